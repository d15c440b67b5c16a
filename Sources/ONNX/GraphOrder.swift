/// Checks that a graph's nodes form a DAG over defined values and puts them in an order where
/// every value is produced before it is used.
///
/// ONNX requires nodes to be stored topologically sorted; exporters do so, but a hand-edited
/// graph may not be. Kahn's algorithm keeps the file's order wherever it already is a valid
/// one, so a sorted file evaluates in exactly its own order.
enum GraphOrder {
    /// - Parameters:
    ///   - nodes: the graph's nodes in file order.
    ///   - defined: initializer and graph-input names.
    /// - Throws: `.duplicateValue` for a value defined twice, `.undefinedInput` naming the node
    ///   and the input no one produces, `.cycle` naming a node on a cycle.
    static func sorted(_ nodes: [ONNXNode], defined: Set<String>, path: String) throws(ONNXError) -> [ONNXNode] {
        var producer: [String: Int] = [:]
        for (i, n) in nodes.enumerated() {
            for o in n.outputs where !o.isEmpty {
                guard !defined.contains(o), producer[o] == nil else { throw .duplicateValue(path: path, name: o) }
                producer[o] = i
            }
        }
        var waitingOn = [Int](repeating: 0, count: nodes.count)
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for (i, n) in nodes.enumerated() {
            for input in Set(n.inputs) where !input.isEmpty && !defined.contains(input) {
                guard let p = producer[input] else { throw .undefinedInput(path: path, node: n.name, input: input) }
                waitingOn[i] += 1
                consumers[p].append(i)
            }
        }
        // Ready nodes leave a min-heap of file indices: the earliest ready node goes first.
        var ready = Heap()
        for i in nodes.indices where waitingOn[i] == 0 { ready.push(i) }
        var order: [ONNXNode] = []
        order.reserveCapacity(nodes.count)
        while let i = ready.pop() {
            order.append(nodes[i])
            for c in consumers[i] {
                waitingOn[c] -= 1
                if waitingOn[c] == 0 { ready.push(c) }
            }
        }
        if order.count < nodes.count, let stuck = nodes.indices.first(where: { waitingOn[$0] > 0 }) {
            throw .cycle(path: path, node: nodes[stuck].name)
        }
        return order
    }

    /// A binary min-heap of node indices.
    struct Heap {
        private var items: [Int] = []
        mutating func push(_ x: Int) {
            items.append(x)
            var i = items.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                guard items[parent] > items[i] else { break }
                items.swapAt(parent, i)
                i = parent
            }
        }
        mutating func pop() -> Int? {
            guard let top = items.first else { return nil }
            let last = items.removeLast()
            if !items.isEmpty {
                items[0] = last
                var i = 0
                while true {
                    let l = 2 * i + 1, r = l + 1
                    var m = i
                    if l < items.count, items[l] < items[m] { m = l }
                    if r < items.count, items[r] < items[m] { m = r }
                    if m == i { break }
                    items.swapAt(i, m)
                    i = m
                }
            }
            return top
        }
    }
}
