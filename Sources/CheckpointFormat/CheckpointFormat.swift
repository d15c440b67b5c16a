/// `CheckpointFormat`: run directories, checkpoint and activation archives, NumPy and safetensors interop.
import Tensors
