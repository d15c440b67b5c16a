import CheckpointFormat
import Foundation
import Testing
import Tensors
@testable import Trainer

/// `analyze import`'s binding of a user's state-dict names to a model spec's (issue 13 item 3).
@Suite("State-dict binding: names as they are, by shape, or renamed")
struct StateDictBindingTests {
    static let mlp = ModelSpec.mlp(inputShape: [1, 28, 28], widths: [16, 8], classes: 10)

    /// A PyTorch `Net` with `fc1`, `fc2`, `fc3`, in state_dict order.
    static let fcNames: [(name: String, shape: [Int])] = [
        ("fc1.weight", [16, 784]), ("fc1.bias", [16]), ("fc2.weight", [8, 16]), ("fc2.bias", [8]),
        ("fc3.weight", [10, 8]), ("fc3.bias", [10]),
    ]

    func message(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch let e as CheckpointError { return "\(e)" } catch { return "unexpected \(type(of: error)): \(error)" }
    }

    @Test func fcNamesBindToTheMLPsLayersByShape() throws {
        let bound = try StateDictBinding.bind(Self.fcNames, to: Self.mlp, specLabel: "model.json", source: "sd.npz")
        #expect(bound.names == ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias", "layers.4.weight", "layers.4.bias"])
        #expect(bound.renamed.count == 6 && bound.renamed[0].from == "fc1.weight" && bound.renamed[0].to == "layers.0.weight")
    }

    @Test func shuffledFileOrderBindsTheSame() throws {
        // A folder lists files sorted; an .npz keeps the writer's order: neither order is used.
        let shuffled = [Self.fcNames[4], Self.fcNames[1], Self.fcNames[2], Self.fcNames[0], Self.fcNames[5], Self.fcNames[3]]
        let bound = try StateDictBinding.bind(shuffled, to: Self.mlp, specLabel: "model.json", source: "sd/")
        #expect(bound.names == ["layers.4.weight", "layers.0.bias", "layers.2.weight", "layers.0.weight", "layers.4.bias", "layers.2.bias"])
    }

    @Test func basinNamesBindAsTheyAre() throws {
        let layout = try Self.mlp.tensorLayout()
        let bound = try StateDictBinding.bind(layout.parameters, to: Self.mlp, specLabel: "model.json", source: "sd.npz")
        #expect(bound.names == layout.parameters.map(\.name) && bound.renamed.isEmpty)
    }

    @Test func batchNormStatisticsAndCounterFollowTheirLayer() throws {
        // A CIFAR ResNet-8 whose stem BN the user called `stem_bn` and whose head `fc`: the other
        // names are Basin's and bind as they are, leaving one place for each renamed module — its
        // weight, bias, running statistics and num_batches_tracked (saved as [1]) move together.
        let spec = ModelSpec.resnet(depth: 8, classes: 10, widthMultiplier: 0.5)
        let layout = try spec.tensorLayout()
        let all = layout.parameters + layout.buffers
        #expect(all.contains { $0.name == "bn1.num_batches_tracked" } && all.contains { $0.name == "linear.weight" })
        let found: [(name: String, shape: [Int])] = all.map { t in
            let name = t.name.hasPrefix("bn1.") ? "stem_bn." + t.name.dropFirst(4) : t.name.hasPrefix("linear.") ? "fc." + t.name.dropFirst(7) : t.name
            return (name, t.name.hasSuffix("num_batches_tracked") ? [1] : t.shape)
        }
        let bound = try StateDictBinding.bind(found, to: spec, specLabel: "resnet.json", source: "sd.npz")
        #expect(bound.names == all.map(\.name))
        #expect(Set(bound.renamed.map(\.to)) == ["bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
                                                 "linear.weight", "linear.bias"])
    }

    @Test func renamedVGGLayersOfEqualShapeNeedTheMap() throws {
        // VGG-11's convolutions repeat shapes (64→64 …): renamed, the shapes cannot place them;
        // with the exact map they bind, BN buffers included.
        let spec = ModelSpec.vgg(depth: 11, inputShape: [3, 32, 32], classes: 10, widthMultiplier: 0.125, batchNorm: true)
        let layout = try spec.tensorLayout()
        let all = layout.parameters + layout.buffers
        var prefixes: [String: String] = [:]
        let found: [(name: String, shape: [Int])] = all.map { t in
            let (prefix, leaf) = StateDictBinding.split(t.name)
            guard prefix.hasPrefix("features.") else { return t }
            if prefixes[prefix] == nil { prefixes[prefix] = "block\(prefixes.count + 1)" }
            return ((prefixes[prefix] ?? "") + "." + leaf, t.shape)
        }
        let m = message { _ = try StateDictBinding.bind(found, to: spec, specLabel: "vgg.json", source: "sd.npz") }
        #expect(m?.contains("the shapes do not tell which of") == true, "\(m ?? "bound")")
        let map = TensorRenaming.exact(Dictionary(uniqueKeysWithValues: zip(found.map(\.name), all.map(\.name)).filter { $0 != $1 }))
        let renamed = try map.apply(to: found.map(\.name), source: "sd.npz")
        let bound = try StateDictBinding.bind(zip(renamed, found).map { ($0, $1.shape) }, to: spec, specLabel: "vgg.json", source: "sd.npz")
        #expect(bound.names == all.map(\.name) && bound.renamed.isEmpty)
    }

    @Test func equalShapesAreRefusedAsAmbiguous() throws {
        let spec = ModelSpec.mlp(inputShape: [4], widths: [6, 6, 6], classes: 3)
        let found: [(name: String, shape: [Int])] = [("fc1.weight", [6, 4]), ("fc1.bias", [6]), ("fc2.weight", [6, 6]), ("fc2.bias", [6]),
                                                     ("fc3.weight", [6, 6]), ("fc3.bias", [6]), ("fc4.weight", [3, 6]), ("fc4.bias", [3])]
        let m = message { _ = try StateDictBinding.bind(found, to: spec, specLabel: "model.json", source: "sd.npz") }
        #expect(m?.hasPrefix("sd.npz: the tensors do not fit the model spec model.json (mlp): the shapes do not tell which of fc2, fc3 is which of layers.2, layers.4") == true, "\(m ?? "bound")")
        #expect(m?.contains("--rename") == true && m?.contains("found: fc1 [6, 4]") == true && m?.contains("expected: layers.0 [6, 4]") == true)
        #expect(m?.contains("\n") == false)
        // Named, they bind (the rest by shape).
        let renamed = try TensorRenaming(rules: "fc2.=layers.2.,fc3.=layers.4.").apply(to: found.map(\.name), source: "sd.npz")
        let bound = try StateDictBinding.bind(zip(renamed, found).map { ($0, $1.shape) }, to: spec, specLabel: "model.json", source: "sd.npz")
        #expect(bound.names.suffix(2) == ["layers.6.weight", "layers.6.bias"])
    }

    @Test func aStrayArrayIsRefusedNamingIt() {
        let found = [("X", [5, 1, 28, 28])] + Self.fcNames
        let m = message { _ = try StateDictBinding.bind(found, to: Self.mlp, specLabel: "model.json", source: "sd", display: { "\($0).npy" }) }
        #expect(m?.contains("no layer of the model takes X.npy [5, 1, 28, 28]") == true, "\(m ?? "bound")")
    }

    @Test func missingAndMisshapedLayersListFoundAndExpected() {
        let wrong = Self.fcNames.map { $0.name == "fc3.weight" ? ($0.name, [10, 9]) : $0 }
        let m = message { _ = try StateDictBinding.bind(wrong, to: Self.mlp, specLabel: "model.json", source: "sd.npz") }
        #expect(m?.contains("no layer of the model takes 'fc3.weight' [10, 9]") == true, "\(m ?? "bound")")
        #expect(m?.contains("nothing fits layers.4 [10, 8]") == true && m?.contains("found: fc1 [16, 784], fc2 [8, 16], fc3 [10, 9]") == true)
        let short = Array(Self.fcNames.prefix(4))
        let m2 = message { _ = try StateDictBinding.bind(short, to: Self.mlp, specLabel: "model.json", source: "sd.npz") }
        #expect(m2?.contains("nothing fits layers.4 [10, 8]") == true, "\(m2 ?? "bound")")
    }

    @Test(arguments: [("fc1.=layers.0.,fc1.=x.", "given twice"), ("fc1.", "is not OLD=NEW"), ("=x", "is not OLD=NEW"), ("a=b,", "is not OLD=NEW")])
    func malformedRenameRulesAreRefused(text: String, expected: String) {
        do { _ = try TensorRenaming(rules: text); Issue.record("accepted \(text)") } catch {
            #expect(error.description.contains(expected), "\(error)")
        }
    }

    @Test func renameRulesThatMatchNothingOrCollideAreRefused() {
        let names = Self.fcNames.map(\.name)
        let m = message { _ = try TensorRenaming(rules: "fc9.=layers.0.").apply(to: names, source: "sd.npz") }
        #expect(m?.contains("--rename 'fc9.=layers.0.' matches no tensor") == true, "\(m ?? "applied")")
        let m2 = message { _ = try TensorRenaming(rules: "fc1.=z.,fc2.=z.").apply(to: names, source: "sd.npz") }
        #expect(m2?.contains("two tensors the name 'z.weight'") == true, "\(m2 ?? "applied")")
        let m3 = message { _ = try TensorRenaming.exact(["fc9.weight": "x"]).apply(to: names, source: "sd.npz") }
        #expect(m3?.contains("names 'fc9.weight', which is not a tensor") == true, "\(m3 ?? "applied")")
    }

    @Test(arguments: [
        (#"{"kind":"mlp","inputShape":[784],"widths":[16]}"#, "the field 'classes' is missing (the number of output classes"),
        (#"{"kind":"mlp","widths":[16],"classes":10}"#, "the field 'inputShape' is missing"),
        (#"{"kind":"transformer","inputShape":[784],"classes":10}"#, "the field 'kind' is not one Basin builds (the architecture: mlp, shallow-cnn, vgg, resnet, onnx)"),
        (#"{"kind":"mlp","inputShape":[784],"classes":"ten"}"#, "the field 'classes' is not an integer"),
        (#"{"kind":"mlp","inputShape":[784],"#, "not valid JSON"),
    ])
    func incompleteModelSpecsNameTheField(json: String, expected: String) {
        do { _ = try ModelSpec.decode(json: Data(json.utf8), path: "model.json"); Issue.record("decoded \(json)") } catch {
            #expect("\(error)".hasPrefix("model.json: model spec: ") && "\(error)".contains(expected), "\(error)")
        }
    }
}
