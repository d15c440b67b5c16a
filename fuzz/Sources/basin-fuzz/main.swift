import Foundation
import InputFuzzing

// The libFuzzer driver, linked in by `-sanitize=fuzzer`. SwiftPM gives an executable its own
// `main`, so libFuzzer's is not used; this one hands control to the driver.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

// The target is chosen once, from BASIN_FUZZ_TARGET (`make fuzz` runs one process per
// target, each with its own corpus folder).
let name = ProcessInfo.processInfo.environment["BASIN_FUZZ_TARGET"] ?? ""
guard let chosen = FuzzTarget(rawValue: name) else {
    let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
    FileHandle.standardError.write(Data("basin-fuzz: set BASIN_FUZZ_TARGET to one of: \(names)\n".utf8))
    exit(64)
}
let target = chosen

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    target.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
})
