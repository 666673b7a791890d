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
            function copyStream(chunks, off, len, dest) {
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
            function unpack(a, j0, n, corr, ybuf, bbuf) {
                for { let l := 0 } lt(l, 8) { l := add(l, 1) } {
                    let j := add(j0, l)
                    if lt(j, n) {
                        let bias := signextend(3, shr(224, mload(add(bbuf, shl(2, j)))))
                        let lane := and(shr(shl(5, l), a), 0xffffffff)
                        mstore(add(ybuf, shl(5, j)), add(sub(lane, corr), bias))
                    }
                }
            }

            let free := mload(0x40)
            let rsz := extcodesize(root)
            if lt(rsz, 257) { revert(0, 0) }
            let desc := free
            extcodecopy(root, desc, 1, sub(rsz, 1))
            free := add(desc, and(add(rsz, 31), not(31)))
            let nChunks := mload(add(desc, 32))
            let nOps := mload(add(desc, 64))
            let inLen := mload(add(desc, 96))
            let maxAct := mload(add(desc, 128))
            let outDtype := mload(add(desc, 192))
            let outRank := mload(add(desc, 224))
            let dims := add(desc, 256)
            let chunks := add(dims, shl(5, outRank))
            let ops := add(chunks, shl(5, nChunks))
            let xbuf := free
            let ybuf := add(xbuf, shl(5, maxAct))
            let wbuf := add(ybuf, shl(5, maxAct))
            free := add(add(wbuf, mload(add(desc, 160))), 64)

            // input: int8 data -> one signed word per element
            let t := tensor.offset
            let dataOff := calldataload(add(t, 64))
            let len := calldataload(add(t, dataOff))
            if iszero(eq(len, inLen)) { revert(0, 0) }
            if iszero(eq(calldataload(t), 1)) { revert(0, 0) }
            let src := add(add(t, dataOff), 32)
            for { let i := 0 } lt(i, len) { i := add(i, 1) } {
                mstore(add(xbuf, shl(5, i)), signextend(0, shr(248, calldataload(add(src, i)))))
            }

            let M := 0x000000ff000000ff000000ff000000ff000000ff000000ff000000ff000000ff
            let LANES := 0x4000000040000000400000004000000040000000400000004000000040000000
            for { let o := 0 } lt(o, nOps) { o := add(o, 1) } {
                let rec := add(ops, mul(o, 192))
                let kind := mload(rec)
                if eq(kind, 1) {
                    let K := mload(add(rec, 32))
                    let N := mload(add(rec, 64))
                    let wOff := mload(add(rec, 96))
                    let bbuf := wbuf
                    copyStream(chunks, mload(add(rec, 128)), shl(2, N), bbuf)
                    let wb := add(bbuf, and(add(shl(2, N), 31), not(31)))
                    let S := 0
                    for { let k := 0 } lt(k, K) { k := add(k, 1) } { S := add(S, mload(add(xbuf, shl(5, k)))) }
                    let corr := add(0x40000000, mul(128, S))
                    let blockBytes := shl(5, K)
                    let xend := add(xbuf, blockBytes)
                    for { let b := 0 } lt(shl(5, b), N) { b := add(b, 1) } {
                        copyStream(chunks, add(wOff, mul(b, blockBytes)), blockBytes, wb)
                        let j0 := shl(5, b)
                        switch scalar
                        case 0 {
                            let a0 := LANES
                            let a1 := LANES
                            let a2 := LANES
                            let a3 := LANES
                            let wp := wb
                            for { let xp := xbuf } lt(xp, xend) { xp := add(xp, 32) } {
                                let w := mload(wp)
                                let x := mload(xp)
                                a0 := add(a0, mul(x, and(w, M)))
                                a1 := add(a1, mul(x, and(shr(8, w), M)))
                                a2 := add(a2, mul(x, and(shr(16, w), M)))
                                a3 := add(a3, mul(x, and(shr(24, w), M)))
                                wp := add(wp, 32)
                            }
                            unpack(a0, j0, N, corr, ybuf, bbuf)
                            unpack(a1, add(j0, 8), N, corr, ybuf, bbuf)
                            unpack(a2, add(j0, 16), N, corr, ybuf, bbuf)
                            unpack(a3, add(j0, 24), N, corr, ybuf, bbuf)
                        }
                        default {
                            for { let jj := 0 } lt(jj, 32) { jj := add(jj, 1) } {
                                let j := add(j0, jj)
                                if lt(j, N) {
                                    // byte index from the most significant end: 31 - (4*(jj%8) + jj/8)
                                    let bi := sub(31, add(shl(2, and(jj, 7)), shr(3, jj)))
                                    let acc := signextend(3, shr(224, mload(add(bbuf, shl(2, j)))))
                                    for { let k := 0 } lt(k, K) { k := add(k, 1) } {
                                        let w := sub(byte(bi, mload(add(wb, shl(5, k)))), 128)
                                        acc := add(acc, mul(mload(add(xbuf, shl(5, k))), w))
                                    }
                                    mstore(add(ybuf, shl(5, j)), acc)
                                }
                            }
                        }
                    }
                    let tmp := xbuf
                    xbuf := ybuf
                    ybuf := tmp
                    len := N
                }
                if eq(kind, 2) {
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
                if eq(kind, 3) {
                    let end := add(xbuf, shl(5, len))
                    for { let p := xbuf } lt(p, end) { p := add(p, 32) } {
                        if slt(mload(p), 0) { mstore(p, 0) }
                    }
                }
            }

            // output: abi.encode(bytes) of abi.encode(uint8 dtype, uint32[] shape, bytes data LE)
            let ret := free
            let tp := add(ret, 64)
            mstore(tp, outDtype)
            mstore(add(tp, 32), 0x60)
            mstore(add(tp, 64), shl(5, add(outRank, 4)))
            mstore(add(tp, 96), outRank)
            for { let i := 0 } lt(i, outRank) { i := add(i, 1) } {
                mstore(add(add(tp, 128), shl(5, i)), mload(add(dims, shl(5, i))))
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
            return(ret, add(tlen, 64))
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
