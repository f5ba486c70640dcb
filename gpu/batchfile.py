"""The official CIFAR-10 ``cifar-10-batches-py`` files, read without unpickling anything.

Each batch file is a Python pickle (protocol 2, written by Python 2) of a dict ``{b'batch_label', b'labels',
b'data', b'filenames'}`` whose ``data`` is a numpy array. ``pickle.load`` would run whatever a crafted file
asks for, so :func:`read_batch` walks the pickle's opcodes (``pickletools.genops`` decodes them, it executes
nothing) on a small stack machine that knows only data: numbers, strings, bytes, lists, tuples, dicts, and
the three constructors a numpy array needs (``numpy.core.multiarray._reconstruct``, ``numpy.ndarray``,
``numpy.dtype``) plus ``_codecs.encode`` (how Python 3 writes bytes at protocol 2), each rebuilt here from its
arguments, never called. Any other opcode or global is a :class:`BatchFileError` naming it.
"""
from __future__ import annotations

import io
import pickletools

import numpy as np

_RECONSTRUCT = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct")}
_KNOWN = _RECONSTRUCT | {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}
_LIMIT = 1 << 30     # no batch file is larger than this (the official ones are 30 MB)


class BatchFileError(ValueError):
    """A file that is not a CIFAR-10 python batch file (or asks for something beyond plain data)."""


class _Global:
    def __init__(self, module: str, name: str):
        if (module, name) not in _KNOWN:
            raise BatchFileError(f"it asks for {module}.{name}, which a CIFAR-10 batch file never does "
                                 "(not unpickled)")
        self.key = (module, name)


class _Array:
    """An array under construction: ``_reconstruct(ndarray, (0,), b'b')`` then ``BUILD`` with its state."""

    def __init__(self):
        self.value = None

    def build(self, state) -> None:
        if not (isinstance(state, tuple) and len(state) == 5 and isinstance(state[2], _Dtype)):
            raise BatchFileError("an array with a state other than numpy's (version, shape, dtype, fortran, data)")
        _, shape, dtype, fortran, raw = state
        if isinstance(raw, str):
            raw = raw.encode("latin1")
        if not isinstance(raw, bytes) or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise BatchFileError("an array whose data is not raw bytes")
        flat = np.frombuffer(raw, dtype=dtype.numpy())
        if flat.size != int(np.prod(shape)):
            raise BatchFileError(f"an array of shape {shape} with {flat.size} values")
        self.value = flat.reshape(shape, order="F" if fortran else "C")


class _Dtype:
    """A dtype under construction: ``dtype('u1', 0, 1)`` then ``BUILD`` with its byte order."""

    def __init__(self, name):
        name = name.decode("latin1") if isinstance(name, bytes) else name   # Python 2 wrote byte strings
        if not isinstance(name, str) or len(name) > 8:
            raise BatchFileError(f"an unexpected dtype {name!r}")
        self.name, self.order = name, "|"

    def build(self, state) -> None:
        order = state[1] if isinstance(state, tuple) and len(state) > 1 else None
        order = order.decode("latin1") if isinstance(order, bytes) else order
        if order in ("<", ">", "|", "="):
            self.order = order

    def numpy(self) -> np.dtype:
        try:
            dtype = np.dtype(self.name).newbyteorder(self.order if self.order in "<>" else "=")
        except TypeError:
            raise BatchFileError(f"an unexpected dtype {self.name!r}") from None
        if dtype.kind not in "uif" or dtype.itemsize > 8:
            raise BatchFileError(f"an unexpected dtype {self.name!r}")
        return dtype


def _reduce(func, args):
    if not isinstance(func, _Global) or not isinstance(args, tuple):
        raise BatchFileError("it calls something that is not a numpy constructor (not unpickled)")
    if func.key in _RECONSTRUCT:
        return _Array()
    if func.key == ("numpy", "dtype") and args:
        return _Dtype(args[0])
    if func.key == ("_codecs", "encode") and len(args) == 2 and isinstance(args[0], str) and args[1] == "latin1":
        return args[0].encode("latin1")
    raise BatchFileError(f"it calls {'.'.join(func.key)} with unexpected arguments")


def _pop_mark(stack: list, marks: list) -> list:
    if not marks:
        raise BatchFileError("a damaged pickle (no mark)")
    start = marks.pop()
    items, stack[start:] = stack[start:], []
    return items


def _set_items(target, pairs: list) -> None:
    if not isinstance(target, dict) or len(pairs) % 2:
        raise BatchFileError("a damaged pickle (items set on a non-dict)")
    for k, v in zip(pairs[::2], pairs[1::2]):
        try:
            target[k] = v
        except TypeError:
            raise BatchFileError("a damaged pickle (an unhashable key)") from None


_PUSH_ARG = {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "BINFLOAT", "FLOAT", "STRING",
             "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
             "BINBYTES", "SHORT_BINBYTES", "BINBYTES8"}
_CONSTANTS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False, "EMPTY_DICT": dict, "EMPTY_LIST": list,
              "EMPTY_TUPLE": tuple}
_TUPLES = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}


def _step(name: str, arg, stack: list, marks: list, memo: dict) -> None:
    """One opcode of the data-only machine."""
    if name in _PUSH_ARG:
        stack.append(arg.encode("latin1") if name in ("STRING", "BINSTRING", "SHORT_BINSTRING") else arg)
    elif name in _CONSTANTS:
        value = _CONSTANTS[name]
        stack.append(value() if callable(value) else value)
    elif name in ("PROTO", "FRAME"):
        pass
    elif name == "MARK":
        marks.append(len(stack))
    elif name in _TUPLES:
        n = _TUPLES[name]
        items, stack[len(stack) - n:] = tuple(stack[len(stack) - n:]), []
        if len(items) != n:
            raise BatchFileError("a damaged pickle (stack too short)")
        stack.append(items)
    elif name in ("TUPLE", "LIST", "DICT"):
        items = _pop_mark(stack, marks)
        if name == "DICT":
            stack.append({})
            _set_items(stack[-1], items)
        else:
            stack.append(tuple(items) if name == "TUPLE" else items)
    elif name in ("APPEND", "APPENDS"):
        items = [stack.pop()] if name == "APPEND" else _pop_mark(stack, marks)
        if not isinstance(stack[-1], list):
            raise BatchFileError("a damaged pickle (append to a non-list)")
        stack[-1].extend(items)
    elif name in ("SETITEM", "SETITEMS"):
        pairs = stack[-2:] if name == "SETITEM" else _pop_mark(stack, marks)
        if name == "SETITEM":
            del stack[-2:]
        _set_items(stack[-1], pairs)
    elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
        memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
    elif name in ("GET", "BINGET", "LONG_BINGET"):
        if arg not in memo:
            raise BatchFileError("a damaged pickle (unknown memo entry)")
        stack.append(memo[arg])
    elif name == "GLOBAL":
        module, _, attr = arg.partition(" ")
        stack.append(_Global(module, attr))
    elif name == "STACK_GLOBAL":
        attr, module = stack.pop(), stack.pop()
        stack.append(_Global(str(module), str(attr)))
    elif name == "REDUCE":
        args = stack.pop()
        stack[-1] = _reduce(stack[-1], args)
    elif name == "BUILD":
        state = stack.pop()
        if not isinstance(stack[-1], (_Array, _Dtype)):
            raise BatchFileError("it builds an object that is not a numpy array (not unpickled)")
        stack[-1].build(state)
    else:
        raise BatchFileError(f"it uses the pickle opcode {name}, which a CIFAR-10 batch file never does "
                             "(not unpickled)")


def _plain(value):
    """Stubs replaced by what they built."""
    if isinstance(value, _Array):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def read_batch(data: bytes) -> dict:
    """The dict a CIFAR-10 python batch file holds, decoded without unpickling (see the module docstring)."""
    if len(data) > _LIMIT:
        raise BatchFileError("larger than any CIFAR-10 batch file")
    stack, marks, memo = [], [], {}
    try:
        for opcode, arg, _ in pickletools.genops(io.BytesIO(data)):
            if opcode.name == "STOP":
                break
            _step(opcode.name, arg, stack, marks, memo)
        else:
            raise BatchFileError("a truncated pickle (no STOP)")
    except (ValueError, IndexError, KeyError, TypeError, UnicodeError, OverflowError) as exc:
        if isinstance(exc, BatchFileError):
            raise
        raise BatchFileError(f"not a pickle of plain data ({type(exc).__name__}: {exc})") from None
    if len(stack) != 1 or not isinstance(stack[0], dict):
        raise BatchFileError("its pickle does not hold a dict")
    return _plain(stack[0])
