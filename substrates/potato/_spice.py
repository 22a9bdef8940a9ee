"""SPICE netlists of the potato circuit, and running ngspice on them.

:func:`write_netlist` writes resistors, capacitors and Butler-Volmer interfaces (as
behavioural current sources, ``B... I = i0*(exp(ka*V) - exp(-kc*V))``, which ngspice
accepts and evaluates exactly as the model does), plus sources and analysis lines.
Every value is written with 17 significant digits, so ngspice sees the same circuit to
the last bit of the model's parameters. :func:`run_ngspice` runs the ``ngspice`` binary in
batch mode in a temporary directory and parses its ASCII raw file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

import numpy as np

__all__ = ["NgspiceError", "run_ngspice", "write_netlist"]


class NgspiceError(RuntimeError):
    """ngspice is missing, failed, or wrote nothing readable."""


def _num(value: float) -> str:
    return format(float(value), ".17g")


def write_netlist(title, node_names, resistors, capacitors, faradaic, *, sources=(),
                  commands=(), options="") -> str:
    """A SPICE netlist (str) of a circuit given as element tables.

    Parameters
    ----------
    title : str
        First line of the netlist.
    node_names : sequence of str, length n_nodes
        SPICE names of nodes 0..n_nodes-1; index -1 in the tables below is ground ("0").
    resistors : (int array (n,), int array (n,), float array (n,) Ohm)
    capacitors : (int array (n,), int array (n,), float array (n,) F)
    faradaic : (metal int (k,), solution int (k,), exchange current float (k,) A,
        anodic slope float 1/V, cathodic slope float 1/V)
        Butler-Volmer branches: current ``i0 (exp(ka V) - exp(-kc V))`` from metal to
        solution, ``V = V(metal) - V(solution)``.
    sources : sequence of str
        Source lines (written as given).
    commands : sequence of str
        Analysis and control lines (``.tran``, ``.ac``, ``.save``...).
    options : str
        Extra ``.options`` words (``filetype=ascii`` is always set).

    Returns
    -------
    str

    Examples
    --------
    >>> print(write_netlist("rc", ["a"], ([0], [-1], [1e3]), ([0], [-1], [1e-6]),
    ...                     ([], [], [], 19.0, 19.0)).splitlines()[1])
    R0 a 0 1000
    """
    names = list(node_names)

    def node(i):
        return "0" if i < 0 else names[i]

    lines = [str(title).replace("\n", " ")]
    a, b, value = resistors
    lines += [f"R{k} {node(i)} {node(j)} {_num(v)}" for k, (i, j, v) in enumerate(zip(a, b, value))]
    a, b, value = capacitors
    lines += [f"C{k} {node(i)} {node(j)} {_num(v)}" for k, (i, j, v) in enumerate(zip(a, b, value))]
    metal, solution, i0, ka, kc = faradaic
    for k, (m, s, amp) in enumerate(zip(metal, solution, i0)):
        vm, vs = node(m), node(s)
        drop = f"(v({vm})-v({vs}))"
        lines.append(f"BF{k} {vm} {vs} I = {_num(amp)}*(exp({_num(ka)}*{drop})"
                     f"-exp(-{_num(kc)}*{drop}))")
    lines += list(sources)
    lines.append(f".options filetype=ascii {options}".rstrip())
    lines += list(commands)
    lines.append(".end")
    return "\n".join(lines) + "\n"


def _parse_raw(text: str) -> dict:
    """Vectors of the last plot of an ASCII raw file: name -> float or complex array."""
    blocks = text.split("Title:")
    if len(blocks) < 2:
        raise NgspiceError("ngspice wrote no raw data")
    block = blocks[-1]
    header, _, body = block.partition("Values:")
    complex_data = False
    n_vars = n_points = None
    names = []
    lines = header.splitlines()
    for idx, line in enumerate(lines):
        if line.startswith("Flags:"):
            complex_data = "complex" in line
        elif line.startswith("No. Variables:"):
            n_vars = int(line.split(":")[1])
        elif line.startswith("No. Points:"):
            n_points = int(line.split(":")[1])
        elif line.startswith("Variables:"):
            for var_line in lines[idx + 1: idx + 1 + n_vars]:
                names.append(var_line.split()[1].lower())
    if n_vars is None or n_points is None or len(names) != n_vars:
        raise NgspiceError("ngspice raw file has no readable header")
    tokens = body.split()
    # each point: its index, then n_vars values
    per_point = n_vars + 1
    if len(tokens) < per_point * n_points:
        raise NgspiceError(f"ngspice raw file is truncated ({len(tokens)} tokens for "
                           f"{n_points} points of {n_vars} vectors)")
    table = np.array(tokens[: per_point * n_points], dtype=object).reshape(n_points, per_point)[:, 1:]
    out = {}
    for j, name in enumerate(names):
        column = table[:, j]
        if complex_data:
            pairs = np.array([c.split(",") for c in column], dtype=np.float64)
            out[name] = pairs[:, 0] + 1j * pairs[:, 1]
        else:
            out[name] = column.astype(np.float64)
    if complex_data and "frequency" in out:
        out["frequency"] = out["frequency"].real
    return out


def run_ngspice(netlist: str, *, timeout: float = 300.0, executable: str = "ngspice") -> dict:
    """Run ngspice in batch mode on ``netlist`` and return its vectors.

    Parameters
    ----------
    netlist : str
        A complete netlist with one analysis (``.tran``, ``.ac`` or ``.op``), for instance
        from :meth:`Potato.to_spice`. ``.options filetype=ascii`` must be set (as
        :func:`write_netlist` does).
    timeout : float, s
    executable : str
        Name or path of the ngspice binary.

    Returns
    -------
    dict mapping lower-case vector names (``"time"``, ``"frequency"``, ``"v(m0)"``...)
    to float64 arrays (complex128 for an AC analysis; ``"frequency"`` stays real).

    Raises
    ------
    NgspiceError
        If ngspice is not installed (with how to install it), fails, or times out.

    Examples
    --------
    >>> import shutil
    >>> if shutil.which("ngspice"):
    ...     net = write_netlist("divider", ["a", "b"], ([0, 1], [1, -1], [1e3, 1e3]),
    ...                         ([], [], []), ([], [], [], 1.0, 1.0),
    ...                         sources=["V1 a 0 DC 2"], commands=[".op"])
    ...     print(round(float(run_ngspice(net)["v(b)"][0]), 9))
    ... else:
    ...     print(1.0)
    1.0
    """
    binary = shutil.which(executable)
    if binary is None:
        raise NgspiceError(
            f"the {executable!r} binary is not on PATH; install ngspice (Debian/Ubuntu: "
            "'apt-get install ngspice', conda: 'conda install -c conda-forge ngspice')"
        )
    with tempfile.TemporaryDirectory(prefix="jewelhead-ngspice-") as tmp:
        cir = os.path.join(tmp, "circuit.cir")
        raw = os.path.join(tmp, "circuit.raw")
        with open(cir, "w") as fh:
            fh.write(netlist)
        try:
            proc = subprocess.run([binary, "-b", "-r", raw, cir], cwd=tmp, capture_output=True,
                                  text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise NgspiceError(f"ngspice ran past timeout = {timeout} s") from None
        log = (proc.stdout or "") + (proc.stderr or "")
        if proc.returncode != 0 or not os.path.exists(raw):
            raise NgspiceError(f"ngspice failed (exit status {proc.returncode}):\n{log[-3000:]}")
        with open(raw) as fh:
            text = fh.read()
    if "error" in log.lower() and "simulation(s) aborted" in log.lower():
        raise NgspiceError(f"ngspice aborted:\n{log[-3000:]}")
    return _parse_raw(text)
