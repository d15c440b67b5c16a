/// A colour map: a function from [0, 1] to a colour, linearly interpolated between control points.
///
/// viridis and magma are matplotlib's perceptually uniform maps (van der Walt & Smith, 2015, CC0): the
/// 256-entry tables are sampled at entries 0, 8, 16, …, 248 and 255 (33 control points) and interpolated
/// linearly in sRGB; against all 256 entries the largest error is 1.7/255 (viridis) and 1.2/255 (magma) per
/// channel, below what the eye sees. The diverging map is ColorBrewer's 11-class RdBu (Brewer, 2002), reversed so that
/// low values are blue and high values red, with white at the centre: use it for differences.
public struct Colormap: Sendable, Equatable {
    public let name: String
    /// Control points: (position in [0, 1], colour), positions increasing.
    let stops: [(Double, Color)]

    public static func == (a: Colormap, b: Colormap) -> Bool { a.name == b.name }

    /// Colour at `t` (clamped to [0, 1]; NaN gives ``Color/missing``).
    public func color(at t: Double) -> Color {
        guard t.isFinite else { return .missing }
        let u = min(max(t, 0), 1)
        var hi = 1
        while hi < stops.count - 1 && stops[hi].0 < u { hi += 1 }
        let (p0, c0) = stops[hi - 1], (p1, c1) = stops[hi]
        let f = p1 > p0 ? (u - p0) / (p1 - p0) : 0
        return Color(red: c0.red + f * (c1.red - c0.red), green: c0.green + f * (c1.green - c0.green),
                     blue: c0.blue + f * (c1.blue - c0.blue))
    }

    /// Whether the map is diverging (symmetric around a neutral centre).
    public var isDiverging: Bool { name == "diverging" }

    public static let viridis = Colormap(name: "viridis", stops: sampled(viridisTable))
    public static let magma = Colormap(name: "magma", stops: sampled(magmaTable))
    public static let diverging = Colormap(name: "diverging", stops: rdbu.reversed().enumerated().map {
        (Double($0.offset) / Double(rdbu.count - 1), Color(hex: $0.element))
    })

    /// Positions of the sampled matplotlib entries: 0, 8, …, 248 (of 255), then 255.
    static func sampled(_ table: [(Double, Double, Double)]) -> [(Double, Color)] {
        table.enumerated().map { i, c in
            (i == table.count - 1 ? 1 : Double(8 * i) / 255, Color(red: c.0, green: c.1, blue: c.2))
        }
    }

    /// ColorBrewer RdBu, 11 classes, from red (#67001f) to blue (#053061).
    static let rdbu: [UInt32] = [0x67001f, 0xb2182b, 0xd6604d, 0xf4a582, 0xfddbc7, 0xf7f7f7,
                                 0xd1e5f0, 0x92c5de, 0x4393c3, 0x2166ac, 0x053061]

    static let viridisTable: [(Double, Double, Double)] = [
        (0.267004, 0.004874, 0.329415),
        (0.277018, 0.050344, 0.375715),
        (0.282327, 0.094955, 0.417331),
        (0.282884, 0.135920, 0.453427),
        (0.278826, 0.175490, 0.483397),
        (0.270595, 0.214069, 0.507052),
        (0.258965, 0.251537, 0.524736),
        (0.244972, 0.287675, 0.537260),
        (0.229739, 0.322361, 0.545706),
        (0.214298, 0.355619, 0.551184),
        (0.199430, 0.387607, 0.554642),
        (0.185556, 0.418570, 0.556753),
        (0.172719, 0.448791, 0.557885),
        (0.160665, 0.478540, 0.558115),
        (0.149039, 0.508051, 0.557250),
        (0.137770, 0.537492, 0.554906),
        (0.127568, 0.566949, 0.550556),
        (0.120565, 0.596422, 0.543611),
        (0.120638, 0.625828, 0.533488),
        (0.132268, 0.655014, 0.519661),
        (0.157851, 0.683765, 0.501686),
        (0.196571, 0.711827, 0.479221),
        (0.246070, 0.738910, 0.452024),
        (0.304148, 0.764704, 0.419943),
        (0.369214, 0.788888, 0.382914),
        (0.440137, 0.811138, 0.340967),
        (0.515992, 0.831158, 0.294279),
        (0.595839, 0.848717, 0.243329),
        (0.678489, 0.863742, 0.189503),
        (0.762373, 0.876424, 0.137064),
        (0.845561, 0.887322, 0.099702),
        (0.926106, 0.897330, 0.104071),
        (0.993248, 0.906157, 0.143936),
    ]
    static let magmaTable: [(Double, Double, Double)] = [
        (0.001462, 0.000466, 0.013866),
        (0.013708, 0.011771, 0.068667),
        (0.039608, 0.031090, 0.133515),
        (0.074257, 0.052017, 0.202660),
        (0.113094, 0.065492, 0.276784),
        (0.159018, 0.068354, 0.352688),
        (0.211718, 0.061992, 0.418647),
        (0.265447, 0.060237, 0.461840),
        (0.316654, 0.071690, 0.485380),
        (0.366012, 0.090314, 0.497960),
        (0.414709, 0.110431, 0.504662),
        (0.463508, 0.129893, 0.507652),
        (0.512831, 0.148179, 0.507648),
        (0.562866, 0.165368, 0.504692),
        (0.613617, 0.181811, 0.498536),
        (0.664915, 0.198075, 0.488836),
        (0.716387, 0.214982, 0.475290),
        (0.767398, 0.233705, 0.457755),
        (0.816914, 0.255895, 0.436461),
        (0.863320, 0.283729, 0.412403),
        (0.904281, 0.319610, 0.388137),
        (0.937221, 0.364929, 0.368567),
        (0.960949, 0.418323, 0.359630),
        (0.976690, 0.476226, 0.364466),
        (0.986700, 0.535582, 0.382210),
        (0.992785, 0.594891, 0.410283),
        (0.996096, 0.653659, 0.446213),
        (0.997325, 0.711848, 0.488154),
        (0.996898, 0.769591, 0.534892),
        (0.995131, 0.827052, 0.585701),
        (0.992440, 0.884330, 0.640099),
        (0.989434, 0.941470, 0.697519),
        (0.987053, 0.991438, 0.749504),
    ]
}
