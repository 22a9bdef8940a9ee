"""Compile a small rate network into a spiking culture and measure what was written.

A 4-unit linear rate network (spectral radius 0.5) becomes four populations of 60
neurons, each under one electrode of a 3 x 3 grid in a dense culture. The compiler
measures the neurons' transfer curve, sets synaptic weights through it (Dale's law: the
positive part on excitatory synapses, the negative part on inhibitory ones), then reads
the effective weights back by linear response (a small DC current on each population's
electrode in turn). Prints asked vs written, the relative error and the part of it that
is read-back noise. Usage: ``python examples/compile_spiking.py [output_dir]`` (writes
``compile_spiking.json`` there).
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

from distill import compile
from substrates import ElectrodeArray
from substrates.spiking import (
    BackgroundParameters,
    ConnectivityParameters,
    LIFParameters,
    SpikingNetwork,
    TissueParameters,
)


def main(output_dir=None):
    rng = np.random.default_rng(3)
    weights = rng.normal(size=(4, 4))
    weights *= 0.5 / np.max(np.abs(np.linalg.eigvals(weights)))  # a stable rate network
    culture = SpikingNetwork(
        800,
        electrodes=ElectrodeArray.grid(3, 3, 150e-6, noise_rms=5e-6),
        neuron=LIFParameters(resting_potential=-65e-3, refractory_period=2e-3),
        excitatory_fraction=0.7,
        connectivity=ConnectivityParameters(connection_probability=0.5, connection_length=300e-6),
        background=BackgroundParameters(n_inputs=200, rate=10.0, weight=17e-12),
        tissue=TissueParameters(size=0.5e-3),
        random_state=0,
    )
    start = time.perf_counter()
    result = compile(weights, culture, population_size=60, write_noise=0.1, random_state=0)
    elapsed = time.perf_counter() - start
    report = result.report
    details = report.details
    np.set_printoptions(precision=3, suppress=True)
    print("asked (rate network, Hz/Hz):\n", weights)
    print("written (effective, read back by linear response):\n", report.written)
    print("read-back sd:\n", details["measurement_sd"])
    noise = np.linalg.norm(details["measurement_sd"]) / np.linalg.norm(weights)
    print(f"relative error {report.relative_error:.3f} (read-back noise alone ~{noise:.3f})")
    print("electrodes", details["electrodes"].tolist(),
          "operating rates (Hz)", np.round(details["measured_rate_Hz"], 2).tolist())
    print("transfer slope at the operating point (Hz/pA)",
          np.round(np.asarray(details["slope_Hz_per_A"]) * 1e-12, 3).tolist())
    print("mean synaptic weight per connection (pA):\n", details["synaptic_weight_A"] * 1e12)
    print("saturated connections", details["saturated_connections"],
          "clipped synapses", details["clipped_synapses"],
          "unreachable", details["unreachable_connections"])
    print(f"compiled in {elapsed:.1f} s")
    if output_dir is not None:
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "compile_spiking.json").write_text(json.dumps(report.to_dict(), indent=1))
    return report


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
