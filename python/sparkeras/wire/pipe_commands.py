"""Commands on a pipe: how a Python process kept in the JVM's pool (sparkeras.ml.PythonWorkers)
runs one task after another, so that Python and TensorFlow start once per process instead of
once per task.

Each task begins with a WorkerCommand frame on standard input; the command then reads its own
frames and writes its replies, and the process waits for the next command. The end of
standard input ends the process; a failing command prints its traceback on standard error
and exits 1, so the JVM never reuses a process in an unknown state.
"""
import os
import sys
import traceback

from sparkeras.wire.connection import read_frame


def frames_to_parent():
    """The real standard output, for frames only: anything printed afterwards (a library's
    progress line, a stray print) goes to standard error instead of corrupting a frame."""
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "wb", buffering=1 << 20)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def serve(run, stdin=None, stdout=None):
    """Runs `run(args, stdin, stdout)` for each WorkerCommand until standard input ends."""
    stdin = stdin if stdin is not None else sys.stdin.buffer
    stdout = stdout if stdout is not None else frames_to_parent()
    while True:
        env = read_frame(stdin)
        if env is None:
            return
        if env.WhichOneof("body") != "worker_command":
            sys.stderr.write(f"expected a worker_command frame, got {env.WhichOneof('body')}\n")
            sys.exit(2)
        try:
            run(list(env.worker_command.args), stdin, stdout)
            stdout.flush()
        except SystemExit:
            raise
        except BaseException:  # noqa: B902 - the traceback is the JVM's only account of the failure
            traceback.print_exc(file=sys.stderr)
            sys.stderr.flush()
            sys.exit(1)


def command_main(parser, run, argv=None):
    """`python -m <module> <command> ...`: the command runs once on the standard streams, or,
    for `serve`, the pool's commands run one after another; `run(args, stdin, stdout)` runs one."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = parser.parse_args(argv)
    if args.command == "serve":
        def one(command, stdin, stdout):
            parsed = parser.parse_args(command)
            if parsed.command == "serve":
                raise ValueError("serve cannot be nested")
            run(parsed, stdin, stdout)
        serve(one)
        return
    try:
        run(args, sys.stdin.buffer, sys.stdout.buffer)
    except Exception:
        traceback.print_exc(file=sys.stderr)
        sys.exit(1)
