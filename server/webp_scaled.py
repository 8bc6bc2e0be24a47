"""Scaled WebP decoding through libwebp itself (ctypes), for thumbnails of huge WebP images.

Pillow decodes a WebP at full size and copies it several times on the way (decoder canvas,
a bytes object, the image): a 1.4 KB 6000x6000 WebP costs over 500 MB. libwebp can scale
while decoding (``WebPDecoderOptions.use_scaling``): lossy images never exist at full size,
lossless ones once, inside libwebp. We use the libwebp that ships with Pillow's wheel (or
the system's); when neither loads, :func:`decode_scaled` returns None and the caller falls
back to Pillow.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import logging
import os

from PIL import Image

logger = logging.getLogger(__name__)

_DECODER_ABI_VERSION = 0x0209  # WEBP_DECODER_ABI_VERSION of libwebp 1.x
_MODE_RGB, _MODE_RGBA = 0, 1
_VP8_STATUS_OK = 0


class _Features(ctypes.Structure):
    _fields_ = [
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("has_alpha", ctypes.c_int),
        ("has_animation", ctypes.c_int),
        ("format", ctypes.c_int),
        ("pad", ctypes.c_uint32 * 5),
    ]


class _RGBABuffer(ctypes.Structure):
    _fields_ = [
        ("rgba", ctypes.POINTER(ctypes.c_uint8)),
        ("stride", ctypes.c_int),
        ("size", ctypes.c_size_t),
    ]


class _YUVABuffer(ctypes.Structure):
    _fields_ = [
        ("y", ctypes.POINTER(ctypes.c_uint8)),
        ("u", ctypes.POINTER(ctypes.c_uint8)),
        ("v", ctypes.POINTER(ctypes.c_uint8)),
        ("a", ctypes.POINTER(ctypes.c_uint8)),
        ("y_stride", ctypes.c_int),
        ("u_stride", ctypes.c_int),
        ("v_stride", ctypes.c_int),
        ("a_stride", ctypes.c_int),
        ("y_size", ctypes.c_size_t),
        ("u_size", ctypes.c_size_t),
        ("v_size", ctypes.c_size_t),
        ("a_size", ctypes.c_size_t),
    ]


class _BufferUnion(ctypes.Union):
    _fields_ = [("RGBA", _RGBABuffer), ("YUVA", _YUVABuffer)]


class _DecBuffer(ctypes.Structure):
    _fields_ = [
        ("colorspace", ctypes.c_int),
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("is_external_memory", ctypes.c_int),
        ("u", _BufferUnion),
        ("pad", ctypes.c_uint32 * 4),
        ("private_memory", ctypes.POINTER(ctypes.c_uint8)),
    ]


class _Options(ctypes.Structure):
    _fields_ = [
        ("bypass_filtering", ctypes.c_int),
        ("no_fancy_upsampling", ctypes.c_int),
        ("use_cropping", ctypes.c_int),
        ("crop_left", ctypes.c_int),
        ("crop_top", ctypes.c_int),
        ("crop_width", ctypes.c_int),
        ("crop_height", ctypes.c_int),
        ("use_scaling", ctypes.c_int),
        ("scaled_width", ctypes.c_int),
        ("scaled_height", ctypes.c_int),
        ("use_threads", ctypes.c_int),
        ("dithering_strength", ctypes.c_int),
        ("flip", ctypes.c_int),
        ("alpha_dithering_strength", ctypes.c_int),
        ("pad", ctypes.c_uint32 * 5),
    ]


class _Config(ctypes.Structure):
    _fields_ = [("input", _Features), ("output", _DecBuffer), ("options", _Options)]


class _Data(ctypes.Structure):
    _fields_ = [("bytes", ctypes.c_void_p), ("size", ctypes.c_size_t)]


class _Iterator(ctypes.Structure):
    _fields_ = [
        ("frame_num", ctypes.c_int),
        ("num_frames", ctypes.c_int),
        ("x_offset", ctypes.c_int),
        ("y_offset", ctypes.c_int),
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("duration", ctypes.c_int),
        ("dispose_method", ctypes.c_int),
        ("complete", ctypes.c_int),
        ("fragment", _Data),
        ("has_alpha", ctypes.c_int),
        ("blend_method", ctypes.c_int),
        ("pad", ctypes.c_uint32 * 2),
        ("private_", ctypes.c_void_p),
    ]


_DEMUX_ABI_VERSION = 0x0107  # WEBP_DEMUX_ABI_VERSION of libwebp 1.x


def _candidates(name: str) -> list[str]:
    import PIL

    here = os.path.dirname(PIL.__file__)
    bundled = sorted(glob.glob(os.path.join(here, "..", "pillow.libs", f"lib{name}-*.so*")))
    bundled += sorted(glob.glob(os.path.join(here, ".dylibs", f"lib{name}.*dylib")))
    system = ctypes.util.find_library(name)
    return bundled + ([system] if system else [])


def _load_demux() -> ctypes.CDLL | None:
    for path in _candidates("webpdemux"):
        try:
            lib = ctypes.CDLL(path)
            lib.WebPDemuxInternal.argtypes = [
                ctypes.POINTER(_Data),
                ctypes.c_int,
                ctypes.c_void_p,
                ctypes.c_int,
            ]
            lib.WebPDemuxInternal.restype = ctypes.c_void_p
            lib.WebPDemuxGetFrame.argtypes = [
                ctypes.c_void_p,
                ctypes.c_int,
                ctypes.POINTER(_Iterator),
            ]
            lib.WebPDemuxGetFrame.restype = ctypes.c_int
            lib.WebPDemuxReleaseIterator.argtypes = [ctypes.POINTER(_Iterator)]
            lib.WebPDemuxReleaseIterator.restype = None
            lib.WebPDemuxDelete.argtypes = [ctypes.c_void_p]
            lib.WebPDemuxDelete.restype = None
            return lib
        except (OSError, AttributeError):
            continue
    return None


def _load() -> ctypes.CDLL | None:
    for path in _candidates("webp"):
        try:
            lib = ctypes.CDLL(path)
            lib.WebPInitDecoderConfigInternal.argtypes = [ctypes.POINTER(_Config), ctypes.c_int]
            lib.WebPInitDecoderConfigInternal.restype = ctypes.c_int
            lib.WebPGetFeaturesInternal.argtypes = [
                ctypes.c_char_p,
                ctypes.c_size_t,
                ctypes.POINTER(_Features),
                ctypes.c_int,
            ]
            lib.WebPGetFeaturesInternal.restype = ctypes.c_int
            lib.WebPDecode.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(_Config)]
            lib.WebPDecode.restype = ctypes.c_int
            lib.WebPFreeDecBuffer.argtypes = [ctypes.POINTER(_DecBuffer)]
            lib.WebPFreeDecBuffer.restype = None
            config = _Config()
            if not lib.WebPInitDecoderConfigInternal(ctypes.byref(config), _DECODER_ABI_VERSION):
                continue  # an ABI we do not know
            return lib
        except (OSError, AttributeError):
            continue
    return None


_lib = _load()
_demux = _load_demux()


def _first_frame(data: bytes) -> bytes | None:
    """The first frame's bitstream of an animated WebP (what libwebp's own animation
    decoder hands to WebPDecode), or None."""
    if _demux is None:
        return None
    buf = ctypes.create_string_buffer(data, len(data))
    wd = _Data(ctypes.cast(buf, ctypes.c_void_p), len(data))
    dmux = _demux.WebPDemuxInternal(ctypes.byref(wd), 0, None, _DEMUX_ABI_VERSION)
    if not dmux:
        return None
    try:
        it = _Iterator()
        if not _demux.WebPDemuxGetFrame(dmux, 1, ctypes.byref(it)):
            return None
        try:
            return ctypes.string_at(it.fragment.bytes, it.fragment.size)
        finally:
            _demux.WebPDemuxReleaseIterator(ctypes.byref(it))
    finally:
        _demux.WebPDemuxDelete(dmux)


def available() -> bool:
    return _lib is not None


def decode_scaled(data: bytes, max_side: int) -> Image.Image | None:
    """The first frame of a WebP, scaled to fit ``max_side`` while decoding; None if unusable."""
    if _lib is None:
        return None
    config = _Config()
    if not _lib.WebPInitDecoderConfigInternal(ctypes.byref(config), _DECODER_ABI_VERSION):
        return None
    status = _lib.WebPGetFeaturesInternal(
        data, len(data), ctypes.byref(config.input), _DECODER_ABI_VERSION
    )
    if status != _VP8_STATUS_OK:
        return None
    if config.input.has_animation:
        # a frame, not the canvas: decode the first one the same way (it is a plain bitstream)
        frame = _first_frame(data)
        if frame is None:
            return None
        return decode_scaled(frame, max_side)
    width, height = config.input.width, config.input.height
    if width <= 0 or height <= 0:
        return None
    scale = min(1.0, max_side / max(width, height))
    alpha = bool(config.input.has_alpha)
    config.output.colorspace = _MODE_RGBA if alpha else _MODE_RGB
    if scale < 1.0:
        config.options.use_scaling = 1
        config.options.scaled_width = max(1, round(width * scale))
        config.options.scaled_height = max(1, round(height * scale))
    if _lib.WebPDecode(data, len(data), ctypes.byref(config)) != _VP8_STATUS_OK:
        _lib.WebPFreeDecBuffer(ctypes.byref(config.output))
        return None
    try:
        out = config.output
        buf = out.u.RGBA
        raw = ctypes.string_at(buf.rgba, buf.size)
        mode = "RGBA" if alpha else "RGB"
        return Image.frombuffer(mode, (out.width, out.height), raw, "raw", mode, buf.stride, 1)
    finally:
        _lib.WebPFreeDecBuffer(ctypes.byref(config.output))
