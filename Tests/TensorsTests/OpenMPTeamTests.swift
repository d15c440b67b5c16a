import Foundation
import Synchronization
import Testing
@testable import Tensors

struct OpenMPTeamTests {
    /// Every element in exactly one part, parts contiguous and cut on multiples of 16, one part
    /// per thread at most, and a single part on the calling thread for one thread or few elements.
    @Test(arguments: [0, 1, 2, 15, 31, 32, 33, 1000, 65_541])
    func partsCoverTheRangeOnce(count: Int) {
        for (threads, alignment) in [(1, 16), (2, 16), (3, 16), (4, 16), (2, 1), (3, 1), (2, 5)] {
            let parts = Mutex<[Range<Int>]>([])
            OpenMPTeam.forEachPart(count: count, threads: threads, alignment: alignment) { part in parts.withLock { $0.append(part) } }
            let sorted = parts.withLock { $0 }.sorted { $0.lowerBound < $1.lowerBound }
            #expect(sorted.allSatisfy { !$0.isEmpty }, "\(count), \(threads) threads: an empty part")
            #expect(sorted.count <= max(1, threads), "\(count), \(threads) threads: \(sorted.count) parts")
            if threads == 1 || count < 2 * alignment { #expect(sorted.count == (count == 0 ? 0 : 1)) }
            if threads > 1, count >= 2 * alignment { #expect(sorted.count >= 2, "\(count), \(threads) threads: one part") }
            var next = 0
            for part in sorted {
                #expect(part.lowerBound == next, "\(count), \(threads) threads: parts \(sorted)")
                #expect(part.lowerBound % alignment == 0)
                next = part.upperBound
            }
            #expect(next == count, "\(count), \(threads) threads: parts \(sorted)")
        }
    }

    /// Parts run on separate threads of the team: with two threads, two parts, two thread ids.
    @Test func partsRunOnSeparateThreads() {
        let threads = Mutex<Set<UInt>>([])
        OpenMPTeam.forEachPart(count: 64, threads: 2) { _ in
            let me = UInt(pthread_self())
            threads.withLock { _ = $0.insert(me) }
        }
        #expect(threads.withLock { $0.count } == 2)
    }
}
