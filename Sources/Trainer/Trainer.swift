/// `Trainer`: layers with exact Hessian-vector products, models built from a JSON `ModelSpec`,
/// losses, optimizers, learning-rate schedules, datasets and the training loop (issue 3).
///
/// Entry points: `Model` (`Network<Float>`) for loss, gradient and H·v at any flat parameter
/// vector; `TrainingLoop` to train; `Dataset` readers (`IDX`, `CIFAR10`, `CSVDataset`, `PS10`,
/// `SyntheticData`). See docs/TRAINING.md.
public enum TrainerModule {
    /// The version of the model layouts and parameter order (bump when a `ModelSpec` would build
    /// a different parameter vector).
    public static let layoutVersion = 1
}
