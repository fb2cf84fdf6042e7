"""CPU and memory of a process, read from /proc.

Both servers are measured the same way from outside, so no figure depends on what a
server chooses to report about itself.
"""

from __future__ import annotations

import os
import resource

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of every thread of `pid` so far (10 ms resolution)."""
    return sum(cpu_split(pid))


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of `pid` so far: where a server spends it, in its own code
    or in the kernel (a loopback write costs the sender the receiver's TCP work too)."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        text = stat.read()
    # The command name may hold spaces and parentheses: the fields start after the last ')'.
    fields = text[text.rindex(b")") + 2 :].split()
    return int(fields[11]) / _TICK, int(fields[12]) / _TICK


def rss_kib(pid: int) -> int:
    """Resident set size of `pid` in KiB."""
    with open(f"/proc/{pid}/status", "rb") as status:
        for line in status:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"process {pid} has no VmRSS (has it exited?)")


def own_cpu_seconds() -> float:
    """CPU this process (the load client, all its threads) has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raise_nofile_limit() -> int:
    """Lift the soft open-files limit to the hard one: 10,000 sockets need it. The new limit."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def machine_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all CPUs, from /proc/stat.

    The machine is shared: the share that neither server nor load client used tells a
    reader whether a run was disturbed.
    """
    with open("/proc/stat", "rb") as stat:
        fields = [int(x) for x in stat.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    busy = user + nice + system + irq + softirq + steal
    return busy / _TICK, (busy + idle + iowait) / _TICK
