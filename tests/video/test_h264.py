"""H.264 bitstream facts: SPS parsing (against a bit-exact writer and x264's own SPS),
disposable-packet detection."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from dfmask.video import _h264 as h264


class _Writer:
    """MSB-first bit writer with exp-Golomb codes and emulation prevention (the inverse
    of `dfmask.video._h264._Bits` + `_rbsp`), to build SPSs field by field."""

    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, n: int, value: int) -> _Writer:
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]
        return self

    def ue(self, value: int) -> _Writer:
        code = value + 1
        n = code.bit_length()
        return self.u(n - 1, 0).u(n, code)

    def se(self, value: int) -> _Writer:
        return self.ue(2 * value - 1 if value > 0 else -2 * value)

    def nal(self, header: int) -> bytes:
        bits = self.bits + [1] + [0] * (-(len(self.bits) + 1) % 8)  # rbsp_trailing_bits
        raw = bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))
        out, zeros = bytearray([header]), 0
        for b in raw:
            if zeros >= 2 and b <= 3:
                out.append(3)
                zeros = 0
            out.append(b)
            zeros = zeros + 1 if b == 0 else 0
        return bytes(out)


def _sps(profile: int, vui: bool, restriction: bool, frame_mbs_only: bool = True, reorder: int = 2) -> bytes:
    w = _Writer().u(8, profile).u(8, 0).u(8, 40).ue(0)
    if profile == 100:
        w.ue(1).ue(0).ue(0).u(1, 0).u(1, 1)  # 4:2:0, 8 bit, scaling matrices present
        for i in range(8):
            w.u(1, i % 2)
            if i % 2:  # a list with deltas, ending early with next_scale = 0
                w.se(5).se(-3).se(-10)
    w.ue(0).ue(0).ue(4)  # log2_max_frame_num-4, poc type 0, log2_max_poc_lsb-4
    w.ue(4).u(1, 0).ue(119).ue(67)  # refs, gaps, 1920x1088 in macroblocks
    w.u(1, int(frame_mbs_only))
    if not frame_mbs_only:
        w.u(1, 1)
    w.u(1, 1).u(1, 1).ue(0).ue(0).ue(0).ue(4)  # direct_8x8, cropping to 1080
    w.u(1, int(vui))
    if vui:
        w.u(1, 1).u(8, 255).u(16, 4).u(16, 3)  # extended SAR
        w.u(1, 1).u(1, 0)  # overscan
        w.u(1, 1).u(3, 5).u(1, 0).u(1, 1).u(24, 0x010101)  # signal type + colour description
        w.u(1, 1).ue(0).ue(0)  # chroma location
        w.u(1, 1).u(32, 1).u(32, 60).u(1, 1)  # timing
        w.u(1, 1).ue(1).u(4, 0).u(4, 0)  # NAL HRD with 2 CPBs
        for _ in range(2):
            w.ue(1000).ue(2000).u(1, 0)
        w.u(5, 23).u(5, 23).u(5, 23).u(5, 24)
        w.u(1, 0).u(1, 0).u(1, 0)  # no VCL HRD, low_delay_hrd, pic_struct_present
        w.u(1, int(restriction))
        if restriction:
            w.u(1, 1).ue(2).ue(1).ue(16).ue(16).ue(reorder).ue(4)
    return w.nal(0x67)


@pytest.mark.parametrize(
    ("profile", "vui", "restriction", "frame_mbs_only", "expected"),
    [
        (100, True, True, True, h264.SpsFacts(True, 2)),
        (66, True, True, True, h264.SpsFacts(True, 2)),
        (100, True, False, True, h264.SpsFacts(True, None)),
        (100, False, False, True, h264.SpsFacts(True, None)),
        (77, True, True, False, h264.SpsFacts(False, 2)),
    ],
)
def test_parse_sps_reads_every_field_up_to_the_reorder_depth(
    profile: int, vui: bool, restriction: bool, frame_mbs_only: bool, expected: h264.SpsFacts
) -> None:
    assert h264.parse_sps(_sps(profile, vui, restriction, frame_mbs_only)) == expected


def test_parse_sps_reads_a_large_reorder_depth_across_emulation_prevention() -> None:
    assert h264.parse_sps(_sps(100, True, True, reorder=300)).reorder_frames == 300
    with pytest.raises(IndexError):  # truncated SPS
        h264.parse_sps(_sps(100, True, True)[:20])


def _avcc(*sps: bytes, length_size: int = 4) -> bytes:
    out = bytearray([1, 100, 0, 40, 0xFC | (length_size - 1), 0xE0 | len(sps)])
    for nal in sps:
        out += len(nal).to_bytes(2, "big") + nal
    return bytes(out + b"\x00")  # no PPS: not needed here


def test_stream_info_accepts_only_frame_coded_streams_that_state_their_reorder_depth() -> None:
    good = _sps(100, True, True)
    assert h264.stream_info(_avcc(good)) == h264.StreamInfo(4, (h264.SpsFacts(True, 2),))
    assert h264.stream_info(_avcc(_sps(100, True, False))) is None  # decoder would guess the depth
    assert h264.stream_info(_avcc(_sps(77, True, True, frame_mbs_only=False))) is None  # fields
    assert h264.stream_info(_avcc(good, _sps(100, False, False))) is None  # one SPS unsure is enough
    assert h264.stream_info(b"\x00\x00\x00\x01" + good) is None  # Annex-B extradata
    assert h264.stream_info(None) is None
    assert h264.stream_info(_avcc(good)[:12]) is None  # truncated record


def _packet(*headers: int, length_size: int = 4) -> bytes:
    return b"".join(len(b"\x00" * 5).to_bytes(length_size, "big") + bytes([h]) + b"\x11" * 4 for h in headers)


def test_is_disposable_only_for_non_reference_slices_without_state() -> None:
    assert h264.is_disposable(_packet(0x01), 4)  # nal_ref_idc 0, non-IDR slice
    assert h264.is_disposable(_packet(0x09, 0x01, 0x01), 4)  # AUD + two slices
    assert h264.is_disposable(_packet(0x01, length_size=2), 2)
    assert not h264.is_disposable(_packet(0x21), 4)  # nal_ref_idc 1
    assert not h264.is_disposable(_packet(0x41, 0x01), 4)  # one reference slice
    assert not h264.is_disposable(_packet(0x65), 4)  # IDR
    assert not h264.is_disposable(_packet(0x06, 0x01), 4)  # SEI travels with it
    assert not h264.is_disposable(_packet(0x68, 0x01), 4)  # a PPS travels with it
    assert not h264.is_disposable(_packet(0x09), 4)  # no slice at all
    assert not h264.is_disposable(_packet(0x01)[:-1], 4)  # length past the end
    assert not h264.is_disposable(b"", 4)
    assert h264.is_idr(_packet(0x09, 0x65), 4) and not h264.is_idr(_packet(0x41), 4)


def _x264_clip(path: Path, bframes: int) -> Path:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (72, 104, 3), np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.options = {"x264-params": f"bframes={bframes}", "threads": "1"}
        for i in range(40):
            image = np.ascontiguousarray(base[i % 8 : i % 8 + 64, i % 8 : i % 8 + 96])
            frame = av.VideoFrame.from_ndarray(image, "rgb24")
            for p in stream.encode(frame):
                out.mux(p)
        for p in stream.encode():
            out.mux(p)
    return path


@pytest.mark.parametrize(("bframes", "reorder", "has_disposable"), [(3, 2, True), (0, 0, False)])
def test_x264_streams_parse_and_their_b_frames_are_disposable(
    tmp_path: Path, bframes: int, reorder: int, has_disposable: bool
) -> None:
    """x264 writes max_num_reorder_frames = 2 with b-pyramid, 0 without B-frames; its
    non-reference B-frames are exactly the disposable packets."""
    path = _x264_clip(tmp_path / "v.mp4", bframes)
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        info = h264.stream_info(stream.codec_context.extradata)
        assert info is not None and info.sps[0].reorder_frames == reorder
        packets = [bytes(p) for p in c.demux(stream) if p.size]
    disposable = [h264.is_disposable(p, info.length_size) for p in packets]
    assert any(disposable) == has_disposable
    assert h264.is_idr(packets[0], info.length_size)
