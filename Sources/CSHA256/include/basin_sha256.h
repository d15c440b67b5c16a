// SHA-256 (FIPS 180-4) on the x86 SHA extensions, one message or two interleaved.
//
// One message's compression is a chain of dependent `sha256rnds2` instructions, so a core
// hashing one message waits on their latency; two independent messages interleaved keep it
// busy. Basin hashes checkpoint entries two at a time this way while reading them. Only used
// where `basin_sha256_accelerated()` says the CPU has the extensions; elsewhere Basin uses
// swift-crypto. Checked against swift-crypto (CheckpointFormatTests, SHA256StreamTests).
#ifndef BASIN_SHA256_H
#define BASIN_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t state[8];
    uint8_t block[64];
    size_t buffered;   // bytes waiting in `block` (< 64)
    uint64_t total;    // bytes hashed so far
} basin_sha256_context;

// 1 when this CPU has the SHA extensions (and SSE4.1) the functions below need, else 0.
int basin_sha256_accelerated(void);

void basin_sha256_init(basin_sha256_context *context);
void basin_sha256_update(basin_sha256_context *context, const void *bytes, size_t count);
// `count` bytes of `a_bytes` into `a` and `count` bytes of `b_bytes` into `b`, whole blocks
// of both compressed together.
void basin_sha256_update_pair(basin_sha256_context *a, const void *a_bytes,
                              basin_sha256_context *b, const void *b_bytes, size_t count);
void basin_sha256_final(basin_sha256_context *context, uint8_t digest[32]);

#endif
