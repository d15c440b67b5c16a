import Tensors
import CheckpointFormat
/// `Trainer`: layers, models, losses, optimizers, schedules, datasets and the training loop (issue 3).
public enum TrainerModule {}
