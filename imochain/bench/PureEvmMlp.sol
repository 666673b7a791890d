// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// Pure-EVM int8 MLP: the same integer semantics as the 0xA1 precompile's int8 mode, with the
/// model's int8 weights read from contract code (EXTCODECOPY), integer loops and the same
/// requantisation (multiplier + shift, round half to even, saturating). A benchmark fixture:
/// compiled at run time by `imochain bench`, never deployed at genesis.
///
/// A model is a stream of bytes split over data contracts ("chunks": code = 0x00 ++ payload,
/// the leading STOP keeps them from running as code). The root data contract holds the
/// descriptor, as 32-byte big-endian words after its 0x00 byte:
///   [0] magic, [1] nChunks, [2] nOps, [3] inputLen, [4] maxAct (elements), [5] wBuf (bytes),
///   [6] output dtype (1 int8, 2 int32), [7] output rank, then rank dims, nChunks addresses,
///   then nOps records of 6 words: kind, a, b, c, d, e
///     kind 1 Linear:     a = K, b = N, c = weight offset, d = bias offset (stream offsets)
///     kind 2 Requantize: a = multiplier, b = shift, c = low clamp (-128, or 0 with a fused ReLU)
///     kind 3 ReLU
/// Linear weights are stored biased, u = w + 128 (0..255), per block of 32 outputs and per
/// input k one 32-byte word; byte p (from the least significant end) of word (block, k) holds
/// u[32*block + 8*(p % 4) + p / 4][k]. Bias: N big-endian int32.
///
/// The packed ("SWAR") loop: and(shr(8s, w), M) with M = 0x000000ff repeated in 8 lanes of 32
/// bits spreads 8 of those bytes into 8 lanes; mul by x_k (one int8 input) and add accumulate 8
/// products at once. Each lane starts at 2^30, and |sum_k x_k u| <= K*128*255 < 2^30 for
/// K < 32896, so every lane stays in [0, 2^32): lanes never borrow from each other and the
/// 256-bit word is exact. Then acc_j = lane - 2^30 - 128 * sum_k x_k (undoing the +128 bias).
contract PureEvmMlp {
    uint256 private constant PAYLOAD = 24544;   // bytes of stream per chunk (767 words)

    /// Run the model stored at `root` on one int8 tensor (abi.encode(uint8, uint32[], bytes));
    /// returns the output tensor, the bytes the precompile returns. scalar = one MAC per loop
    /// iteration (the straightforward version) instead of the packed loop.
    function infer(address root, bytes calldata tensor, bool scalar) external view returns (bytes memory) {
        assembly {
            // Scratch words (the block ends in `return`, so Solidity's 0x00-0x7f are ours):
            // 0x00 lane correction (set per block), 0x20 N of the current layer, 0x40 chunk table, 0x60 byByte.
            function copyStream(off, len, dest) {
                let chunks := mload(0x40)
                for {} len {} {
                    let local := mod(off, PAYLOAD)
                    let n := sub(PAYLOAD, local)
                    if gt(n, len) { n := len }
                    extcodecopy(mload(add(chunks, shl(5, div(off, PAYLOAD)))), dest, add(local, 1), n)
                    off := add(off, n)
                    dest := add(dest, n)
                    len := sub(len, n)
                }
            }
            // lanes of packed accumulator a hold outputs j0 .. j0+7 (those below N)
            function unpack(a, j0, ybuf, bbuf) {
                let n := mload(0x20)
                let corr := mload(0)
                for { let l := 0 } lt(l, 8) { l := add(l, 1) } {
                    let j := add(j0, l)
                    if lt(j, n) {
                        let bias := signextend(3, shr(224, mload(add(bbuf, shl(2, j)))))
                        let lane := and(shr(shl(5, l), a), 0xffffffff)
                        mstore(add(ybuf, shl(5, j)), add(sub(lane, corr), bias))
                    }
                }
            }
            // 32 outputs of one block: 4 packed accumulators of 8 lanes each; the loop is
            // unrolled twice (an odd K runs one step first) and also sums the inputs for the
            // +128 correction, so no separate pass over x is needed.
            function swarBlock(wb, xbuf, xend, j0, ybuf, bbuf) {
                let a0 := 0x4000000040000000400000004000000040000000400000004000000040000000
                let a1 := a0
                let a2 := a0
                let a3 := a0
                let s := 0
                let xp := xbuf
                if and(shr(5, sub(xend, xbuf)), 1) {
                    let w := mload(wb)
                    let x := mload(xp)
                    s := x
                    a0 := add(a0, mul(x, and(w, 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff)))
                    a1 := add(a1, mul(x, and(shr(8, w), 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff)))
                    a2 := add(a2, mul(x, and(shr(16, w), 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff)))
                    a3 := add(a3, mul(x, and(shr(24, w), 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff)))
                    wb := add(wb, 32)
                    xp := add(xp, 32)
                }
                for { } lt(xp, xend) { xp := add(xp, 64) } {
                    let w := mload(wb)
                    let x := mload(xp)
                    s := add(s, x)
                    a0 := add(a0, mul(x, and(w, 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff)))
                    a1 := add(a1, mul(x, and(shr(8, w), 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff)))
                    a2 := add(a2, mul(x, and(shr(16, w), 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff)))
                    a3 := add(a3, mul(x, and(shr(24, w), 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff)))
                    w := mload(add(wb, 32))
                    x := mload(add(xp, 32))
                    s := add(s, x)
                    a0 := add(a0, mul(x, and(w, 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff)))
                    a1 := add(a1, mul(x, and(shr(8, w), 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff)))
                    a2 := add(a2, mul(x, and(shr(16, w), 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff)))
                    a3 := add(a3, mul(x, and(shr(24, w), 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff)))
                    wb := add(wb, 64)
                }
                // lane = 2^30 + sum x*(w+128): subtract 2^30 + 128*sum x
                mstore(0, add(0x40000000, mul(128, s)))
                unpack(a0, j0, ybuf, bbuf)
                unpack(a1, add(j0, 8), ybuf, bbuf)
                unpack(a2, add(j0, 16), ybuf, bbuf)
                unpack(a3, add(j0, 24), ybuf, bbuf)
            }
            // the straightforward loop: one MAC per iteration, weight byte by byte
            function scalarBlock(j0, wb, bbuf, xbuf, xend, ybuf) {
                let n := mload(0x20)
                for { let jj := 0 } lt(jj, 32) { jj := add(jj, 1) } {
                    let j := add(j0, jj)
                    if lt(j, n) {
                        // byte index from the most significant end: 31 - (4*(jj%8) + jj/8)
                        let bi := sub(31, add(shl(2, and(jj, 7)), shr(3, jj)))
                        let acc := signextend(3, shr(224, mload(add(bbuf, shl(2, j)))))
                        let wp := wb
                        for { let xp := xbuf } lt(xp, xend) { xp := add(xp, 32) } {
                            acc := add(acc, mul(mload(xp), sub(byte(bi, mload(wp)), 128)))
                            wp := add(wp, 32)
                        }
                        mstore(add(ybuf, shl(5, j)), acc)
                    }
                }
            }
            function linear(rec, xbuf, ybuf, wbuf) -> n {
                n := mload(add(rec, 64))
                mstore(0x20, n)
                let xend := add(xbuf, shl(5, mload(add(rec, 32))))
                copyStream(mload(add(rec, 128)), shl(2, n), wbuf)      // bias
                let wb := add(wbuf, and(add(shl(2, n), 31), not(31)))
                for { let j0 := 0 } lt(j0, n) { j0 := add(j0, 32) } {
                    // block j0/32 of this layer's weights: K words = xend - xbuf bytes
                    copyStream(add(mload(add(rec, 96)), mul(shr(5, j0), sub(xend, xbuf))), sub(xend, xbuf), wb)
                    switch mload(0x60)
                    case 0 { swarBlock(wb, xbuf, xend, j0, ybuf, wbuf) }
                    default { scalarBlock(j0, wb, wbuf, xbuf, xend, ybuf) }
                }
            }
            function requant(rec, xbuf, len) {
                let m := mload(add(rec, 32))
                let s := mload(add(rec, 64))
                let low := mload(add(rec, 96))
                let half := 0
                if s { half := shl(sub(s, 1), 1) }
                let end := add(xbuf, shl(5, len))
                for { let p := xbuf } lt(p, end) { p := add(p, 32) } {
                    let v := mul(mload(p), m)
                    if s {
                        // floor division by 2^s, then round half to even on the remainder
                        let q := sar(s, v)
                        let r := sub(v, shl(s, q))
                        if or(gt(r, half), and(eq(r, half), and(q, 1))) { q := add(q, 1) }
                        v := q
                    }
                    if slt(v, low) { v := low }
                    if sgt(v, 127) { v := 127 }
                    mstore(p, v)
                }
            }
            function relu(xbuf, len) {
                let end := add(xbuf, shl(5, len))
                for { let p := xbuf } lt(p, end) { p := add(p, 32) } {
                    if slt(mload(p), 0) { mstore(p, 0) }
                }
            }
            // abi.encode(bytes) of abi.encode(uint8 dtype, uint32[] shape, bytes data LE); returns size
            function encodeOut(desc, xbuf, len, ret) -> size {
                let outDtype := mload(add(desc, 192))
                let outRank := mload(add(desc, 224))
                let tp := add(ret, 64)
                mstore(tp, outDtype)
                mstore(add(tp, 32), 0x60)
                mstore(add(tp, 64), shl(5, add(outRank, 4)))
                mstore(add(tp, 96), outRank)
                for { let i := 0 } lt(i, outRank) { i := add(i, 1) } {
                    mstore(add(add(tp, 128), shl(5, i)), mload(add(add(desc, 256), shl(5, i))))
                }
                let dp := add(add(tp, 128), shl(5, outRank))
                let item := 1
                if eq(outDtype, 2) { item := 4 }
                let nbytes := mul(len, item)
                mstore(dp, nbytes)
                let bp := add(dp, 32)
                for { let i := 0 } lt(i, len) { i := add(i, 1) } {
                    let v := mload(add(xbuf, shl(5, i)))
                    let q := add(bp, mul(i, item))
                    mstore8(q, v)
                    if eq(item, 4) {
                        mstore8(add(q, 1), shr(8, v))
                        mstore8(add(q, 2), shr(16, v))
                        mstore8(add(q, 3), shr(24, v))
                    }
                }
                let tlen := add(sub(bp, tp), and(add(nbytes, 31), not(31)))
                mstore(ret, 0x20)
                mstore(add(ret, 32), tlen)
                size := add(tlen, 64)
            }

            let desc := mload(0x40)
            let rsz := extcodesize(root)
            if lt(rsz, 257) { revert(0, 0) }
            extcodecopy(root, desc, 1, sub(rsz, 1))
            let ops := add(add(desc, 256), shl(5, mload(add(desc, 224))))
            mstore(0x40, ops)
            ops := add(ops, shl(5, mload(add(desc, 32))))
            mstore(0x60, scalar)
            let maxAct := mload(add(desc, 128))
            let xbuf := add(desc, and(add(rsz, 31), not(31)))
            let ybuf := add(xbuf, shl(5, maxAct))
            let wbuf := add(ybuf, shl(5, maxAct))

            // input: int8 data -> one signed word per element
            let len := 0
            {
                let t := tensor.offset
                let dataOff := calldataload(add(t, 64))
                len := calldataload(add(t, dataOff))
                if iszero(eq(len, mload(add(desc, 96)))) { revert(0, 0) }
                if iszero(eq(calldataload(t), 1)) { revert(0, 0) }
                let src := add(add(t, dataOff), 32)
                for { let i := 0 } lt(i, len) { i := add(i, 1) } {
                    mstore(add(xbuf, shl(5, i)), signextend(0, shr(248, calldataload(add(src, i)))))
                }
            }
            let nOps := mload(add(desc, 64))
            for { let o := 0 } lt(o, nOps) { o := add(o, 1) } {
                let rec := add(ops, mul(o, 192))
                let kind := mload(rec)
                if eq(kind, 1) {
                    len := linear(rec, xbuf, ybuf, wbuf)
                    let tmp := xbuf
                    xbuf := ybuf
                    ybuf := tmp
                }
                if eq(kind, 2) { requant(rec, xbuf, len) }
                if eq(kind, 3) { relu(xbuf, len) }
            }
            let ret := add(add(wbuf, mload(add(desc, 160))), 64)
            return(ret, encodeOut(desc, xbuf, len, ret))
        }
    }

    /// Gas a call costs inside the EVM, measured the same way for 0xA1 and for `infer`:
    /// gasleft() around one staticcall (the call's own access cost included).
    function measure(address target, bytes calldata data) external view returns (uint256 used, bytes memory out) {
        uint256 g = gasleft();
        (bool ok, bytes memory r) = target.staticcall(data);
        used = g - gasleft();
        if (!ok) {
            assembly { revert(add(r, 32), mload(r)) }
        }
        out = r;
    }
}
