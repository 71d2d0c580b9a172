"""The Python side of `ale.ts`: one Arcade Learning Environment emulator behind a binary pipe.

Started by `lib/envs/ale_process.ts` as `python3 ale_helper.py REQUEST_FIFO REPLY_FIFO GAME`.
Standard library + numpy + ale_py only. It does only what has to happen inside the emulator:
playing frames with the actions it is sent (sticky actions are drawn by the TypeScript side, so
native and real games share one random stream), and rendering the frames the frame-skip wrapper
keeps. Everything else (max-pool, perturbations, gray, resize, episode wrappers) stays in
TypeScript, shared with the native games.

Every message, both ways, is a little-endian u32 body length followed by the body.

Requests:
  b"R"                             reset the game (ALE's reset_game)
  b"S" flags:u8 n:u16 actions:u8*n  play n frames, action indices into the minimal action set;
                                   flags bit 0: RGB frames (else ALE's grayscale), bit 1: also
                                   render the second-to-last frame (for the max-pool)
  b"Q"                             quit (end of input does the same)

Replies:
  kind=0 state:  kind:u8 game_over:u8 pooled:u8 pad:u8 reward:i32 frames:u32 lives:i32
                 ram:u8*128 [last frame] [previous frame]  (reset: no frames)
  kind=1 hello:  kind:u8 then UTF-8 JSON {ale, python, pid, game, actions, height, width}
  kind=2 error:  kind:u8 then a UTF-8 message; the helper exits after sending it
"""

import errno
import json
import os
import struct
import sys
import time

INSTALL_HINT = "pip install ale-py==0.12.1"
# A reply is at most two RGB frames (~200 KB); a pipe this large takes it in one write.
PIPE_SIZE = 1 << 20
F_SETPIPE_SZ = 1031  # Linux; fcntl.F_SETPIPE_SZ exists only from Python 3.10


def read_exact(fd, n):
    chunks = []
    while n > 0:
        chunk = os.read(fd, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def write_all(fd, parts):
    """Writes the buffers in order; os.writev may stop early when the pipe is full."""
    views = [memoryview(p).cast("B") for p in parts]
    while views:
        written = os.writev(fd, views)
        while views and written >= len(views[0]):
            written -= len(views[0])
            views.pop(0)
        if views and written:
            views[0] = views[0][written:]


def send(fd, parts):
    size = sum(memoryview(p).nbytes for p in parts)
    write_all(fd, [struct.pack("<I", size)] + list(parts))


def open_reply(path):
    """Opens the reply pipe once the TypeScript side opens its end for reading. Polls instead of
    blocking, so that a helper whose parent went away without ever connecting exits."""
    parent = os.getppid()
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            break
        except OSError as e:
            if e.errno not in (errno.ENXIO, errno.EINTR):
                raise
        if os.getppid() != parent:
            sys.exit(0)
        time.sleep(0.002)
    os.set_blocking(fd, True)
    try:
        import fcntl

        fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)
    except (ImportError, OSError):
        pass  # not Linux, or a lower limit: larger replies just take a few writes
    return fd


def fail(reply_fd, message):
    send(reply_fd, [b"\x02", message.encode()])
    return 3


def main(argv):
    if len(argv) != 4:
        print(f"usage: {argv[0]} REQUEST_FIFO REPLY_FIFO GAME", file=sys.stderr)
        return 2
    req_path, rep_path, game = argv[1:]
    # The slow part (imports, loading the ROM) runs before the pipes open, so that many helpers
    # started together get ready in parallel; an error waits for the pipe to report itself.
    error = None
    try:
        import numpy as np
        from ale_py import ALEInterface, LoggerMode, __version__, roms
    except ImportError as e:
        error = (
            f"ale-py is not importable by {sys.executable} ({e}); real Atari (ale:*) envs "
            f"need it: {INSTALL_HINT} (or point JEPA_PYTHON at a Python that has it)"
        )
    if error is None:
        ALEInterface.setLoggerMode(LoggerMode.Error)
        rom = roms.get_rom_path(game)
        if rom is None:
            error = f"ale-py {__version__} has no ROM named '{game}'"
        else:
            ale = ALEInterface()
            ale.setInt("random_seed", 0)
            # Sticky actions are drawn in TypeScript and arrive as per-frame actions.
            ale.setFloat("repeat_action_probability", 0.0)
            ale.loadROM(rom)
            action_set = ale.getMinimalActionSet()
    rep = open_reply(rep_path)
    req = os.open(req_path, os.O_RDONLY)
    if error is not None:
        return fail(rep, error)

    height, width = ale.getScreenDims()
    hello = {
        "ale": __version__,
        "python": sys.executable,
        "pid": os.getpid(),
        "game": game,
        "actions": [a.name for a in action_set],
        "height": height,
        "width": width,
    }
    send(rep, [b"\x01", json.dumps(hello).encode()])

    gray = [np.empty((height, width), np.uint8) for _ in range(2)]
    rgb = [np.empty((height, width, 3), np.uint8) for _ in range(2)]
    header = bytearray(16)

    def state_reply(reward, frames, pooled, images):
        struct.pack_into(
            "<BBBBiIi",
            header,
            0,
            0,
            int(ale.game_over(with_truncation=False)),
            int(pooled),
            0,
            reward,
            frames,
            ale.lives(),
        )
        send(rep, [header, ale.getRAM()] + images)

    while True:
        head = read_exact(req, 4)
        if head is None:
            return 0
        body = read_exact(req, struct.unpack("<I", head)[0])
        if body is None:
            return 0
        op = body[:1]
        if op == b"Q":
            return 0
        if op == b"R":
            ale.reset_game()
            state_reply(0, 0, False, [])
        elif op == b"S":
            flags, n = struct.unpack_from("<BH", body, 1)
            actions = body[4 : 4 + n]
            screens = rgb if flags & 1 else gray
            grab = ale.getScreenRGB if flags & 1 else ale.getScreenGrayscale
            want_prev = flags & 2
            reward = played = 0
            pooled = False
            for k, a in enumerate(actions):
                reward += ale.act(action_set[a])
                played += 1
                if ale.game_over(with_truncation=False):
                    break
                if want_prev and k == n - 2:
                    grab(screens[1])
                    pooled = True
            grab(screens[0])
            state_reply(reward, played, pooled, [screens[0]] + ([screens[1]] if pooled else []))
        else:
            return fail(rep, f"unknown request {op!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
