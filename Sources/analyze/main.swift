import AnalyzeCLI
import Tensors

// OpenBLAS's AVX-512 kernels where it misdetects the CPU (re-executes once; Tensors/BLASCore.swift).
BLASCore.preferAVX512Kernels()
AnalyzeCLI.main()
