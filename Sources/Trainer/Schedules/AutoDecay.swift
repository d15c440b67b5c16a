/// AutoDecay (paper 003, appendix A.1): decays the learning rate when the training loss plateaus,
/// and stops training when a stage no longer lowers the loss significantly.
///
/// Each observation ℓ̂(t) (typically the epoch's training loss) updates a bias-corrected moving
/// average f̂(t) = β·f̂(t−1) + (1 − β)·ℓ̂(t), ĝ(t) = f̂(t)/(1 − βᵗ) (Kingma & Ba's correction).
/// The last W values G of ĝ are *stable* when (max G − min G)/(min G + ε) < η. On a stable window:
/// if (ĝ(t) + ε)/(ĝ(0) + ε) ≤ ζ (a significant drop since the stage began) the rate is multiplied by
/// `factor` and the stage restarts (t ← 0, f̂ ← 0); otherwise training should stop.
/// ĝ(0) is taken as the stage's first average ĝ(1) = ℓ̂(1), since f̂(0) = 0 leaves ĝ(0) undefined.
public struct AutoDecay: Codable, Equatable, Sendable {
    /// β, the moving-average decay (paper: 0.9).
    public var beta: Double
    /// W, the window of averages that must be stable.
    public var window: Int
    /// η, the tolerated relative variation within the window.
    public var tolerance: Double
    /// ζ, the ratio ĝ(t)/ĝ(0) at or below which a stage counts as a significant drop.
    public var drop: Double
    /// The multiplier applied to the learning rate at each decay (e.g. 0.1).
    public var factor: Double
    /// ε, guarding the divisions.
    public var epsilon: Double

    /// The current multiplier on the base schedule (factor^decays).
    public private(set) var scale: Double = 1
    /// Decays so far.
    public private(set) var decays = 0
    private var t = 0
    private var f = 0.0
    private var stageStart: Double?
    private var recent: [Double] = []

    /// What the trainer should do after an observation.
    public enum Action: String, Codable, Sendable { case `continue`, decay, stop }

    public init(beta: Double = 0.9, window: Int = 5, tolerance: Double = 0.02, drop: Double = 0.9,
                factor: Double = 0.1, epsilon: Double = 1e-8) throws(TrainerError) {
        guard (0..<1).contains(beta), window >= 1, tolerance > 0, drop > 0, factor > 0, factor < 1 else {
            throw .invalidOption("AutoDecay needs β in [0, 1), window ≥ 1, tolerance > 0, drop > 0, factor in (0, 1)")
        }
        self.beta = beta
        self.window = window
        self.tolerance = tolerance
        self.drop = drop
        self.factor = factor
        self.epsilon = epsilon
    }

    /// The current smoothed loss ĝ(t) of this stage, if any observation has been made.
    public var smoothedLoss: Double? { recent.last }

    /// Records one observed loss and says whether to continue, decay (already applied to `scale`) or stop.
    public mutating func observe(loss: Double) -> Action {
        t += 1
        f = beta * f + (1 - beta) * loss
        var betaPower = 1.0
        for _ in 0..<t { betaPower *= beta }
        let g = f / (1 - betaPower)
        if stageStart == nil { stageStart = g }
        recent.append(g)
        if recent.count > window { recent.removeFirst(recent.count - window) }
        guard recent.count == window, let lo = recent.min(), let hi = recent.max(), let start = stageStart else { return .continue }
        guard (hi - lo) / (lo + epsilon) < tolerance else { return .continue }
        guard (g + epsilon) / (start + epsilon) <= drop else { return .stop }
        scale *= factor
        decays += 1
        t = 0
        f = 0
        stageStart = nil
        recent = []
        return .decay
    }
}
