// SHA-256 on the x86 SHA extensions; see include/basin_sha256.h.
#include "basin_sha256.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

int basin_sha256_accelerated(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 19)) || !(c & (1u << 9))) return 0;  // SSE4.1, SSSE3
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 29) & 1;  // SHA
}

#define TARGET __attribute__((target("sha,sse4.1,ssse3")))

// The state as the instructions want it: ABEF and CDGH.
TARGET static inline void load_state(const uint32_t state[8], __m128i *abef, __m128i *cdgh) {
    __m128i t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[0]), 0xB1);   // CDAB
    __m128i s1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&state[4]), 0x1B);  // EFGH
    *abef = _mm_alignr_epi8(t, s1, 8);
    *cdgh = _mm_blend_epi16(s1, t, 0xF0);
}

TARGET static inline void store_state(uint32_t state[8], __m128i abef, __m128i cdgh) {
    __m128i t = _mm_shuffle_epi32(abef, 0x1B);    // FEBA
    __m128i s1 = _mm_shuffle_epi32(cdgh, 0xB1);   // DCHG
    _mm_storeu_si128((__m128i *)&state[0], _mm_blend_epi16(t, s1, 0xF0));  // DCBA
    _mm_storeu_si128((__m128i *)&state[4], _mm_alignr_epi8(s1, t, 8));     // HGFE
}

// Four rounds q (0…15) of one message: its schedule words m[0…3] rotate.
#define QUAD(q, s0, s1, m, data)                                                               \
    do {                                                                                        \
        if ((q) < 4) m[(q)] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)((data) + 16 * (q))), mask); \
        __m128i w = _mm_add_epi32(m[(q) & 3], _mm_loadu_si128((const __m128i *)&K[4 * (q)]));  \
        s1 = _mm_sha256rnds2_epu32(s1, s0, w);                                                 \
        if ((q) >= 3 && (q) <= 14) {                                                           \
            m[((q) + 1) & 3] = _mm_add_epi32(m[((q) + 1) & 3], _mm_alignr_epi8(m[(q) & 3], m[((q) + 3) & 3], 4)); \
            m[((q) + 1) & 3] = _mm_sha256msg2_epu32(m[((q) + 1) & 3], m[(q) & 3]);             \
        }                                                                                       \
        s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(w, 0x0E));                        \
        if ((q) >= 1 && (q) <= 12) m[((q) + 3) & 3] = _mm_sha256msg1_epu32(m[((q) + 3) & 3], m[(q) & 3]); \
    } while (0)

TARGET static void compress(uint32_t state[8], const uint8_t *data, size_t blocks) {
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i s0, s1, m[4];
    load_state(state, &s0, &s1);
    for (; blocks > 0; blocks--, data += 64) {
        __m128i save0 = s0, save1 = s1;
        QUAD(0, s0, s1, m, data);  QUAD(1, s0, s1, m, data);  QUAD(2, s0, s1, m, data);  QUAD(3, s0, s1, m, data);
        QUAD(4, s0, s1, m, data);  QUAD(5, s0, s1, m, data);  QUAD(6, s0, s1, m, data);  QUAD(7, s0, s1, m, data);
        QUAD(8, s0, s1, m, data);  QUAD(9, s0, s1, m, data);  QUAD(10, s0, s1, m, data); QUAD(11, s0, s1, m, data);
        QUAD(12, s0, s1, m, data); QUAD(13, s0, s1, m, data); QUAD(14, s0, s1, m, data); QUAD(15, s0, s1, m, data);
        s0 = _mm_add_epi32(s0, save0);
        s1 = _mm_add_epi32(s1, save1);
    }
    store_state(state, s0, s1);
}

#define QUAD2(q)                                 \
    do {                                         \
        QUAD(q, a0, a1, ma, da);                 \
        QUAD(q, b0, b1, mb, db);                 \
    } while (0)

TARGET static void compress_pair(uint32_t a_state[8], const uint8_t *da, uint32_t b_state[8], const uint8_t *db, size_t blocks) {
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i a0, a1, b0, b1, ma[4], mb[4];
    load_state(a_state, &a0, &a1);
    load_state(b_state, &b0, &b1);
    for (; blocks > 0; blocks--, da += 64, db += 64) {
        __m128i sa0 = a0, sa1 = a1, sb0 = b0, sb1 = b1;
        QUAD2(0);  QUAD2(1);  QUAD2(2);  QUAD2(3);  QUAD2(4);  QUAD2(5);  QUAD2(6);  QUAD2(7);
        QUAD2(8);  QUAD2(9);  QUAD2(10); QUAD2(11); QUAD2(12); QUAD2(13); QUAD2(14); QUAD2(15);
        a0 = _mm_add_epi32(a0, sa0); a1 = _mm_add_epi32(a1, sa1);
        b0 = _mm_add_epi32(b0, sb0); b1 = _mm_add_epi32(b1, sb1);
    }
    store_state(a_state, a0, a1);
    store_state(b_state, b0, b1);
}

#else
int basin_sha256_accelerated(void) { return 0; }
static void compress(uint32_t state[8], const uint8_t *data, size_t blocks) { (void)state; (void)data; (void)blocks; }
static void compress_pair(uint32_t a[8], const uint8_t *da, uint32_t b[8], const uint8_t *db, size_t blocks) {
    (void)a; (void)da; (void)b; (void)db; (void)blocks;
}
#endif

void basin_sha256_init(basin_sha256_context *c) {
    static const uint32_t initial[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->state, initial, sizeof initial);
    c->buffered = 0;
    c->total = 0;
}

void basin_sha256_update(basin_sha256_context *c, const void *bytes, size_t count) {
    const uint8_t *p = bytes;
    c->total += count;
    if (c->buffered > 0) {
        size_t take = 64 - c->buffered < count ? 64 - c->buffered : count;
        memcpy(c->block + c->buffered, p, take);
        c->buffered += take; p += take; count -= take;
        if (c->buffered < 64) return;
        compress(c->state, c->block, 1);
        c->buffered = 0;
    }
    if (count >= 64) {
        compress(c->state, p, count / 64);
        p += count & ~(size_t)63;
        count &= 63;
    }
    memcpy(c->block, p, count);
    c->buffered = count;
}

void basin_sha256_update_pair(basin_sha256_context *a, const void *a_bytes,
                              basin_sha256_context *b, const void *b_bytes, size_t count) {
    if (a->buffered != 0 || b->buffered != 0 || count < 64) {
        basin_sha256_update(a, a_bytes, count);
        basin_sha256_update(b, b_bytes, count);
        return;
    }
    size_t whole = count & ~(size_t)63;
    compress_pair(a->state, a_bytes, b->state, b_bytes, whole / 64);
    a->total += whole;
    b->total += whole;
    basin_sha256_update(a, (const uint8_t *)a_bytes + whole, count - whole);
    basin_sha256_update(b, (const uint8_t *)b_bytes + whole, count - whole);
}

void basin_sha256_final(basin_sha256_context *c, uint8_t digest[32]) {
    uint64_t bits = c->total * 8;
    uint8_t pad[72] = {0x80};
    size_t padding = (c->buffered < 56 ? 56 : 120) - c->buffered;
    for (int i = 0; i < 8; i++) pad[padding + i] = (uint8_t)(bits >> (56 - 8 * i));
    uint64_t total = c->total;
    basin_sha256_update(c, pad, padding + 8);
    c->total = total;
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(c->state[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(c->state[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(c->state[i] >> 8);
        digest[4 * i + 3] = (uint8_t)c->state[i];
    }
}
