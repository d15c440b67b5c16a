import Testing
import Tensors

@Suite struct ElementCountTests {
    @Test func productOfDimensions() throws {
        #expect(try ElementCount.of([]) == 1)
        #expect(try ElementCount.of([3, 4, 5]) == 60)
        #expect(try ElementCount.bytes([3, 4], elementSize: 8) == 96)
    }

    @Test func zeroDimensionEmptiesTheTensor() throws {
        #expect(try ElementCount.of([1 << 40, 0, 3]) == 0)
    }

    /// `[2^62, 0, 2^62]` holds nothing, but a product over part of it would overflow.
    @Test func emptyShapeWhoseOtherDimensionsOverflowIsRefused() {
        #expect(throws: ShapeSizeError.tooLarge(shape: [1 << 62, 0, 1 << 62], elementSize: 1)) {
            try ElementCount.of([1 << 62, 0, 1 << 62])
        }
    }

    @Test func overflowThrowsInsteadOfTrapping() {
        #expect(throws: ShapeSizeError.tooLarge(shape: [1 << 62, 4], elementSize: 1)) { try ElementCount.of([1 << 62, 4]) }
        #expect(throws: ShapeSizeError.tooLarge(shape: [1 << 61], elementSize: 8)) {
            try ElementCount.bytes([1 << 61], elementSize: 8)
        }
        #expect(throws: ShapeSizeError.negativeDimension(shape: [2, -1])) { try ElementCount.of([2, -1]) }
    }
}
