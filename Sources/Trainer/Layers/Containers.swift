import Tensors

/// Layers applied in order (PyTorch `nn.Sequential`); children are named `"0"`, `"1"`, … or by name.
final class Sequential<Scalar: BLASScalar> {
    var children: [(name: String, layer: Layer<Scalar>)]

    init(_ children: [(name: String, layer: Layer<Scalar>)]) { self.children = children }

    /// Children named by their index, as `nn.Sequential(*layers)` names them.
    convenience init(indexed layers: [Layer<Scalar>]) {
        self.init(layers.enumerated().map { (String($0.offset), $0.element) })
    }

    /// Index of the first child whose output depends on θ in the last forward pass; the
    /// children before it only transformed a `constant` input and need no backward pass.
    private var firstDependent = 0

    func forward(_ x: Dual<Scalar>, _ pass: Pass<Scalar>, prefix: String, recorder: LayerRecorder<Scalar>?) -> Dual<Scalar> {
        var h = x
        firstDependent = children.count
        var i = 0
        while i < children.count {
            let child = children[i]
            // A Linear followed by a ReLU, when nothing records the Linear's own output: the
            // product applies the rectifier (`Linear.forward(_:_:rectify:)`) and the ReLU takes
            // that output as its own, for its backward pass.
            if recorder == nil, i + 1 < children.count, case .linear(let linear) = child.layer,
               case .relu(let relu) = children[i + 1].layer {
                let (y, rectified) = linear.forward(h, pass, rectify: true)
                h = y
                h.constant = false
                if firstDependent == children.count { firstDependent = i }
                if rectified {
                    relu.adopt(h)
                    i += 2
                } else {
                    i += 1
                }
                continue
            }
            h = child.layer.forward(h, pass, name: prefix.isEmpty ? child.name : "\(prefix).\(child.name)", recorder: recorder)
            if !h.constant && firstDependent == children.count { firstDependent = i }
            i += 1
        }
        return h
    }

    func backward(_ dy: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        var g = dy
        for i in children.indices.reversed() where i >= firstDependent { g = children[i].layer.backward(g, pass) }
        return g
    }

    func outputShape(_ sample: [Int]) -> [Int]? {
        var s = sample
        for child in children {
            guard let next = child.layer.outputShape(s) else { return nil }
            s = next
        }
        return s
    }

    func layout(prefix: String, into table: inout ParameterTable) {
        Layer.sequential(self).layout(prefix: prefix, into: &table)
    }

    func visitLeaves(prefix: String, _ body: (String, Layer<Scalar>) -> Void) {
        Layer.sequential(self).visitLeaves(prefix: prefix, body)
    }

    func releaseCaches() { for c in children { c.layer.releaseCaches() } }
}

/// A residual block y = relu(main(x) + shortcut(x)) (the CIFAR ResNet `BasicBlock`).
///
/// `main` holds `conv1, bn1, relu, conv2, bn2`; `shortcut` is empty for the identity or holds a
/// 1×1 convolution and batch norm (`shortcut.0`, `shortcut.1`, PyTorch's option B).
/// Backward: ∂x = main'ᵀ·∂s + shortcut'ᵀ·∂s with ∂s = 1[s > 0]·∂y; R-operator likewise, since the
/// sum is linear.
final class Residual<Scalar: BLASScalar> {
    let main: Sequential<Scalar>
    let shortcut: Sequential<Scalar>
    private let activation = ReLU<Scalar>()

    init(main: Sequential<Scalar>, shortcut: Sequential<Scalar>) {
        self.main = main
        self.shortcut = shortcut
    }

    /// Whether the last forward pass's input was `constant` (then backward returns no ∂x).
    private var inputConstant = false

    func forward(_ x: Dual<Scalar>, _ pass: Pass<Scalar>, prefix: String, recorder: LayerRecorder<Scalar>? = nil) -> Dual<Scalar> {
        inputConstant = x.constant
        let inner = recorder?.insideBlocks == true ? recorder : nil
        let a = main.forward(x, pass, prefix: prefix, recorder: inner)
        let b = shortcut.children.isEmpty ? x : shortcut.forward(x, pass, prefix: prefix + ".shortcut", recorder: inner)
        precondition(a.shape == b.shape, "residual branches disagree: \(a.shape) vs \(b.shape)")
        let n = a.value.count
        if !pass.withTangents {
            // relu(a + b) in one pass; the activation keeps it for its backward pass.
            let y = Dual<Scalar>.unset(a.shape, withTangent: false)
            VectorKernels.add(count: n, a.value.pointer, b.value.pointer, into: y.value.pointer, rectified: true)
            activation.adopt(y)
            return y
        }
        // Tangents: R{s} = R{a} + R{b}, each term present or zero.
        return activation.forward(Dual.sum(a, b, withTangent: true), pass)
    }

    func backward(_ dy: Dual<Scalar>, _ pass: Pass<Scalar>) -> Dual<Scalar> {
        let ds = activation.backward(dy, pass)
        let dxMain = main.backward(ds, pass)
        let dxShort = shortcut.children.isEmpty ? ds : shortcut.backward(ds, pass)
        if inputConstant { return .noGradient(dxMain.shape) }
        return Dual.sum(dxMain, dxShort, withTangent: pass.withTangents)
    }

    func outputShape(_ sample: [Int]) -> [Int]? {
        guard let a = main.outputShape(sample) else { return nil }
        let b = shortcut.children.isEmpty ? sample : shortcut.outputShape(sample)
        return a == b ? a : nil
    }
}
