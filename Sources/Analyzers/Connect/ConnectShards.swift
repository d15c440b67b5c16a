import Foundation
import Tensors

/// One item of a sharded `analyze connect`: item 0 is the trained curve with its profile, items
/// 1…points are the segment's points (see `ConnectAnalyzer.plan`).
public struct ConnectItemValue: Codable, Sendable {
    /// Loss and accuracy per split at one point of the segment, `[splits]`.
    public var segmentPoint: [SplitValue]?
    /// The curve: its bends, how training went, its values at every t.
    public var curve: TrainedCurve?
}

/// What training a curve produced, carried from the shard that trained it to the merge.
public struct TrainedCurve: Codable, Sendable {
    /// θ of each bend, `[bends][parameterCount]`.
    public var bends: [ExactFloats]
    public var report: CurveTrainingReport
    /// Loss and accuracy at every t of the curve, `[points][splits]`.
    public var values: [[SplitValue]]
}

/// float32 values stored exactly and compactly in JSON: Base64 of their little-endian IEEE 754
/// bits. A bend of an 11M-parameter network is 59 MB this way instead of ≈ 130 MB of decimals,
/// and no float is ever rounded through text.
public struct ExactFloats: Codable, Sendable, Equatable {
    public var scalars: [Float]

    public init(_ scalars: [Float]) { self.scalars = scalars }

    public func encode(to encoder: any Encoder) throws {
        var bytes = [UInt8]()
        bytes.reserveCapacity(scalars.count * 4)
        for x in scalars { withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes += $0 } }
        var c = encoder.singleValueContainer()
        try c.encode(Data(bytes).base64EncodedString())
    }

    /// - Throws: `DecodingError.dataCorrupted` for text that is not Base64 of whole float32 values.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        guard let data = Data(base64Encoded: try c.decode(String.self)), data.count % 4 == 0 else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not Base64 of little-endian float32 values")
        }
        scalars = data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        }
    }
}
