import Tensors

/// The ONNX `Conv` on oneDNN's primitives (`Tensors.OneDNNConvolution`, as the trainer's
/// `Conv2d` uses them): one call over the whole batch for the forward, the input gradient and
/// the weight gradient, any kernel, strides, dilations, asymmetric padding and groups. Each
/// function returns nil when oneDNN is disabled (`BASIN_CONV=im2col`), cannot build the
/// primitive, or fails a call; the caller then takes the im2col route, so the results are the
/// same products either way, to float32 rounding.
extension Kernel.ConvLayout {
    /// oneDNN's description of this convolution on the current BLAS thread count.
    func oneDNNGeometry(hasBias: Bool) -> OneDNNConvolution.Geometry {
        var g = OneDNNConvolution.Geometry(batch: batch, channels: channels, height: window.input[0], width: window.input[1],
                                           outChannels: outChannels, kernelHeight: window.kernel[0], kernelWidth: window.kernel[1],
                                           hasBias: hasBias, threads: BLAS.threadCount)
        (g.strideHeight, g.strideWidth) = (window.strides[0], window.strides[1])
        (g.dilationHeight, g.dilationWidth) = (window.dilations[0], window.dilations[1])
        (g.padTop, g.padLeft, g.padBottom, g.padRight) = (window.padsBegin[0], window.padsBegin[1], window.padsEnd[0], window.padsEnd[1])
        g.groups = group
        return g
    }

    /// Nothing to compute (an empty batch, plane or channel set): the im2col route handles it.
    var isEmpty: Bool { batch == 0 || pixels == 0 || inPlane == 0 || channels == 0 || outChannels == 0 }
}

extension Kernel {
    /// conv(x, w) + bias, or nil when oneDNN did not run it.
    static func convOneDNN(_ x: Tensor<Float>, _ w: Tensor<Float>, _ bias: Tensor<Float>?, _ l: ConvLayout) -> Tensor<Float>? {
        guard !l.isEmpty, let count = try? checkedCount(l.outputShape) else { return nil }
        let y = OneDNNConvolution.withShared(l.oneDNNGeometry(hasBias: bias != nil)) { conv in
            x.withUnsafeBufferPointer { px in
                w.withUnsafeBufferPointer { pw in
                    written(count) { Y in
                        guard let X = px.baseAddress, let W = pw.baseAddress else { return false }
                        guard let bias else { return conv.forward(X, weight: W, bias: nil, into: Y) }
                        return bias.withUnsafeBufferPointer { pb in pb.baseAddress.map { conv.forward(X, weight: W, bias: $0, into: Y) } ?? false }
                    }
                }
            }
        }
        guard let y = y ?? nil else { return nil }
        return try? floatResult(l.outputShape, y)
    }

    /// The input and weight gradients of y = conv(x, w) for `dy`, each only when wanted; nil when
    /// oneDNN did not run them.
    static func convBackwardOneDNN(_ x: Tensor<Float>, _ w: Tensor<Float>, _ dy: [Float], _ l: ConvLayout,
                                   wantInput: Bool, wantWeight: Bool) -> (input: [Float]?, weight: [Float]?)? {
        guard !l.isEmpty else { return nil }
        let result = OneDNNConvolution.withShared(l.oneDNNGeometry(hasBias: false)) { conv -> (input: [Float]?, weight: [Float]?)? in
            x.withUnsafeBufferPointer { px in
                w.withUnsafeBufferPointer { pw in
                    dy.withUnsafeBufferPointer { pdy in
                        guard let X = px.baseAddress, let W = pw.baseAddress, let DY = pdy.baseAddress else { return nil }
                        let dx = wantInput ? written(x.count) { conv.backwardData(weight: W, DY, into: $0) } : nil
                        let dw = wantWeight ? written(w.count) { conv.backwardWeights(X, DY, into: $0, bias: nil) } : nil
                        guard (dx != nil) == wantInput, (dw != nil) == wantWeight else { return nil }
                        return (dx, dw)
                    }
                }
            }
        }
        return result ?? nil
    }

    /// An array of `count` elements that `fill` writes whole, or nil when `fill` reports failure
    /// (the elements are not zeroed first: oneDNN's primitives overwrite their outputs).
    private static func written(_ count: Int, _ fill: (UnsafeMutablePointer<Float>) -> Bool) -> [Float]? {
        guard count > 0 else { return nil }
        var ok = false
        let array = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            guard let base = buffer.baseAddress else { initialized = 0; return }
            ok = fill(base)
            // On failure the elements may be partly written: they are zeroed and the array dropped.
            if !ok { base.update(repeating: 0, count: count) }
            initialized = count
        }
        return ok ? array : nil
    }
}
