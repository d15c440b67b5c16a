import Foundation

/// `exp` and `log` from the C library, named so generic code can call them unambiguously.
@inline(__always) func _exp(_ x: Double) -> Double { Foundation.exp(x) }
@inline(__always) func _log(_ x: Double) -> Double { Foundation.log(x) }
