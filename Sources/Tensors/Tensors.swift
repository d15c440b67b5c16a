/// `Tensors`: Basin's numeric core — dense float tensors on contiguous buffers,
/// BLAS/LAPACK calls with thrown errors, and a seeded, splittable random generator.
///
/// Only this module (with `CheckpointFormat` and `Render`) imports C modules.
public enum BasinVersion {
    /// The tool version recorded in every manifest and result.
    public static let string = "0.1.0"
}
