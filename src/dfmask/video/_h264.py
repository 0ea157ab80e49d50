"""The few H.264 bitstream facts `dfmask.video.read_frames` needs to skip frames safely.

A frame whose slices all have ``nal_ref_idc == 0`` (most B-frames of x264 output,
about half of all frames with its default b-pyramid) is never used to predict another
frame, so a decoder that never receives it decodes every other frame bit-identically:
the H.264 standard's temporal sub-bitstream property, which FFmpeg's own
``skip_frame=nonref`` relies on. A packet is "disposable" here only when it holds
nothing else that carries state: no parameter sets and no SEI (an x264 version SEI
switches FFmpeg's bug workarounds, a recovery-point SEI marks keyframes).

`stream_info` reads the ``avcC`` configuration record (MP4/MOV/MKV extradata) and its
SPSs; skipping is only offered when every SPS states its reorder depth
(``bitstream_restriction_flag``, so FFmpeg outputs frames in display order from the
first one on) and forbids field coding (``frame_mbs_only_flag``, so one packet is one
frame). Annex-B streams (no avcC) and anything unparsable get ``None``: decode all.
Syntax references are to ITU-T H.264 (08/2021), sections 7.3.2.1.1 (SPS), E.1.1 (VUI)
and E.1.2 (HRD).
"""

from __future__ import annotations

from dataclasses import dataclass

#: High-profile ids whose SPS carries chroma format, bit depths and scaling matrices.
_HIGH_PROFILES = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})
#: NAL unit types a disposable packet may hold: non-IDR slice, access-unit delimiter,
#: end of sequence / stream, filler data.
_DISPOSABLE_TYPES = frozenset({1, 9, 10, 11, 12})
_SLICE = 1


class _Bits:
    """MSB-first bit reader over an RBSP (emulation-prevention bytes already removed)."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self.data[self.pos >> 3]  # IndexError past the end: caller gives up
            value = (value << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)


def _rbsp(nal: bytes) -> bytes:
    """NAL payload without its header byte and emulation-prevention bytes (00 00 03)."""
    out = bytearray()
    zeros = 0
    for b in nal[1:]:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def _skip_scaling_list(r: _Bits, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt != 0:
            nxt = (last + r.se() + 256) % 256
        last = nxt or last


def _skip_hrd(r: _Bits) -> None:
    cpb_cnt = r.ue() + 1
    r.u(8)  # bit_rate_scale, cpb_size_scale
    for _ in range(cpb_cnt):
        r.ue()
        r.ue()
        r.u(1)
    r.u(20)  # four 5-bit lengths / delays


@dataclass(frozen=True)
class SpsFacts:
    """What skipping needs from one SPS.

    Attributes:
        frame_mbs_only: no field (interlaced) coding: one access unit = one frame.
        reorder_frames: ``max_num_reorder_frames`` (frames), None when the SPS does not
            state it (no VUI ``bitstream_restriction_flag``).
    """

    frame_mbs_only: bool
    reorder_frames: int | None


def parse_sps(nal: bytes) -> SpsFacts:
    """Parse an SPS NAL unit (header byte included) up to the VUI bitstream restriction.

    Raises:
        ValueError / IndexError: a malformed or truncated SPS.
    """
    r = _Bits(_rbsp(nal))
    profile = r.u(8)
    r.u(16)  # constraint flags + reserved, level_idc
    r.ue()  # seq_parameter_set_id
    if profile in _HIGH_PROFILES:
        chroma_format = r.ue()
        if chroma_format == 3:
            r.u(1)  # separate_colour_plane_flag
        r.ue()  # bit_depth_luma_minus8
        r.ue()  # bit_depth_chroma_minus8
        r.u(1)  # qpprime_y_zero_transform_bypass_flag
        if r.u(1):  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format != 3 else 12):
                if r.u(1):
                    _skip_scaling_list(r, 16 if i < 6 else 64)
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()
    elif poc_type == 1:
        r.u(1)
        r.se()
        r.se()
        for _ in range(r.ue()):
            r.se()
    r.ue()  # max_num_ref_frames
    r.u(1)  # gaps_in_frame_num_value_allowed_flag
    r.ue()  # pic_width_in_mbs_minus1
    r.ue()  # pic_height_in_map_units_minus1
    frame_mbs_only = bool(r.u(1))
    if not frame_mbs_only:
        r.u(1)  # mb_adaptive_frame_field_flag
    r.u(1)  # direct_8x8_inference_flag
    if r.u(1):  # frame_cropping_flag
        for _ in range(4):
            r.ue()
    if not r.u(1):  # vui_parameters_present_flag
        return SpsFacts(frame_mbs_only, None)
    if r.u(1) and r.u(8) == 255:  # aspect_ratio_info_present_flag, aspect_ratio_idc
        r.u(32)  # sar_width, sar_height
    if r.u(1):  # overscan_info_present_flag
        r.u(1)
    if r.u(1):  # video_signal_type_present_flag
        r.u(4)  # video_format, video_full_range_flag
        if r.u(1):  # colour_description_present_flag
            r.u(24)
    if r.u(1):  # chroma_loc_info_present_flag
        r.ue()
        r.ue()
    if r.u(1):  # timing_info_present_flag
        r.u(65)
    nal_hrd = r.u(1)
    if nal_hrd:
        _skip_hrd(r)
    vcl_hrd = r.u(1)
    if vcl_hrd:
        _skip_hrd(r)
    if nal_hrd or vcl_hrd:
        r.u(1)  # low_delay_hrd_flag
    r.u(1)  # pic_struct_present_flag
    if not r.u(1):  # bitstream_restriction_flag
        return SpsFacts(frame_mbs_only, None)
    r.u(1)  # motion_vectors_over_pic_boundaries_flag
    for _ in range(4):  # max_bytes_per_pic_denom ... log2_max_mv_length_vertical
        r.ue()
    return SpsFacts(frame_mbs_only, r.ue())


@dataclass(frozen=True)
class StreamInfo:
    """An avcC stream whose disposable packets may be skipped.

    Attributes:
        length_size: bytes of each NAL unit's length prefix in a packet (1, 2 or 4).
        sps: the facts of each SPS in the configuration record.
    """

    length_size: int
    sps: tuple[SpsFacts, ...]


def stream_info(extradata: bytes | None) -> StreamInfo | None:
    """Parse an avcC record; None unless skipping non-reference packets is safe (see the
    module docstring: avcC, every SPS frame-only and stating its reorder depth)."""
    if not extradata or len(extradata) < 7 or extradata[0] != 1:
        return None  # Annex-B or no configuration record
    length_size = (extradata[4] & 3) + 1
    if length_size == 3:
        return None
    count, pos, facts = extradata[5] & 31, 6, []
    try:
        for _ in range(count):
            size = int.from_bytes(extradata[pos : pos + 2], "big")
            nal = extradata[pos + 2 : pos + 2 + size]
            if len(nal) != size or not nal or nal[0] & 31 != 7:
                return None
            facts.append(parse_sps(nal))
            pos += 2 + size
    except (ValueError, IndexError):
        return None
    if not facts or not all(f.frame_mbs_only and f.reorder_frames is not None for f in facts):
        return None
    return StreamInfo(length_size, tuple(facts))


def nal_headers(data: bytes, length_size: int) -> list[int] | None:
    """The header byte of every NAL unit of a length-prefixed packet; None if malformed."""
    out, pos, n = [], 0, len(data)
    while pos < n:
        if pos + length_size > n:
            return None
        size = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        if size == 0 or pos + size > n:
            return None
        out.append(data[pos])
        pos += size
    return out


def is_disposable(data: bytes, length_size: int) -> bool:
    """True when a packet is a non-reference picture that nothing else depends on:
    at least one slice, every slice with ``nal_ref_idc == 0``, and no NAL unit that
    carries state (parameter sets, SEI, IDR). Malformed packets are never disposable."""
    headers = nal_headers(data, length_size)
    if not headers:
        return False
    has_slice = False
    for h in headers:
        if h & 0x80:  # forbidden_zero_bit set: not a valid NAL unit
            return False
        kind = h & 31
        if kind not in _DISPOSABLE_TYPES:
            return False
        if kind == _SLICE:
            if h & 0x60:  # nal_ref_idc != 0: a reference picture
                return False
            has_slice = True
    return has_slice


def is_idr(data: bytes, length_size: int) -> bool:
    """True when a packet holds an IDR slice (a clean start for the decoder)."""
    headers = nal_headers(data, length_size)
    return bool(headers) and any(h & 31 == 5 for h in headers or ())
