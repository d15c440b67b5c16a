import Foundation
import Testing
@testable import Render

func sampleReport(dir: String) throws -> HTMLReport {
    try samplePlot().write(base: dir + "/loss")
    try Heatmap(values: [[1, 0.5], [0.5, 1]], rowLabels: ["a", "b"], columnLabels: ["a", "b"]).write(base: dir + "/sim")
    return HTMLReport(title: "Run <resnet> & co", subtitle: "made by tests", settings: [("seed", "1"), ("epochs", "150")],
                      sections: [.init(title: "Barrier", text: "Loss along the segment.\n\nSecond paragraph.",
                                       figures: [.init(png: "loss.png", svg: "loss.svg", caption: "Loss")],
                                       tables: [.init(caption: "Key numbers", header: ["pair", "barrier"], rows: [["70–150", HTMLReport.number(0.123456)]])],
                                       settings: [("pairs", "70,150")]),
                                 .init(title: "SVCCA", figures: [.init(png: "sim.png", svg: "sim.svg", caption: "Similarity", wide: true)])],
                      footer: "Basin tests")
}

@Test func reportPageIsSelfContainedAndEscaped() throws {
    let dir = try temporaryFolder()
    let report = try sampleReport(dir: dir)
    try report.write(to: dir + "/index.html")
    let html = try String(contentsOfFile: dir + "/index.html", encoding: .utf8)
    #expect(html.contains("Run &lt;resnet&gt; &amp; co"))
    #expect(html.contains("<img src=\"loss.png\"") && html.contains("href=\"loss.svg\""))
    // Never shown larger than drawn: a 2×-scale PNG of W pixels gets max-width W/2 CSS pixels.
    let width = try #require(PNGFile.width(try Data(contentsOf: URL(fileURLWithPath: dir + "/loss.png"))))
    #expect(width > 100 && html.contains("max-width: \(width / 2)px"))
    #expect(html.contains("0.1235") && html.contains("name=\"viewport\""))
    #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"), "page must load nothing from the network")
    try report.write(to: dir + "/embedded.html", embedImages: true)
    let embedded = try String(contentsOfFile: dir + "/embedded.html", encoding: .utf8)
    #expect(embedded.contains("data:image/png;base64,iVBOR"))
    var missing = report
    missing.sections[0].figures.append(.init(png: "nope.png", caption: "missing"))
    #expect(throws: RenderError.self) { try missing.write(to: dir + "/bad.html", embedImages: true) }
}

/// Finds `chromium` (Debian's package) on PATH.
func chromiumPath() -> String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
        for name in ["chromium", "chromium-browser"] {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
    }
    return nil
}

// Skipped only where Chromium is absent; `make test` (BASIN_STRICT_TESTS=1) installs it and requires it.
@Test(.enabled(if: chromiumPath() != nil || ProcessInfo.processInfo.environment["BASIN_STRICT_TESTS"] == "1",
               "chromium is not installed (Debian: apt-get install chromium); skipping the screenshot test"))
func reportRendersInHeadlessChromium() throws {
    let chromium = try #require(chromiumPath())
    let dir = try temporaryFolder()
    try sampleReport(dir: dir).write(to: dir + "/index.html")
    let shot = dir + "/shot.png"
    for width in [1200, 420] {   // wide screen and phone width
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chromium)
        process.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                             "--user-data-dir=\(dir)/profile", "--enable-logging=stderr", "--v=0",
                             "--window-size=\(width),1600", "--screenshot=\(shot)", "file://\(dir)/index.html"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(90)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if process.isRunning { process.terminate(); Issue.record("chromium did not finish in 90 s"); return }
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 0, "chromium exited \(process.terminationStatus): \(log.suffix(2000))")
        // Console errors (a missing image, a script error) would be logged as CONSOLE lines.
        let consoleErrors = log.split(separator: "\n").filter { $0.contains("CONSOLE") || $0.contains("Failed to load resource") || $0.contains("ERR_FILE_NOT_FOUND") }
        #expect(consoleErrors.isEmpty, "page errors at width \(width): \(consoleErrors)")
        let image = try readPNG(path: shot)
        #expect(image.width == width)
        // The figures show: a good share of the page is not white.
        let ink = inkPixels(image, in: Rect(x: 0, y: 0, width: Double(image.width), height: Double(image.height)), scale: 1)
        #expect(ink > image.width * image.height / 20, "screenshot at width \(width) is nearly blank (\(ink) ink pixels)")
    }
}
