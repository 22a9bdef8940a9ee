"""Make ``spoken_digits.npz``: the ten English digits spoken by espeak-ng, as MFCC frames.

Run once, offline (it is not run by the tests)::

    python readout/data/make_spoken_digits.py            # writes readout/data/spoken_digits.npz

What it does
------------
* 10 digits ("zero" ... "nine") x 10 voices x 3 prosodies = 300 clips. A voice is an
  espeak-ng English accent with a voice variant (``en-us+m3``, ``en-gb-scotland+f2``, ...);
  each voice speaks every digit at 3 (pitch, speed) settings drawn once from a seeded
  generator, so every digit has 30 variants and the 10 voices allow speaker-held-out splits.
* Each clip: ``espeak-ng -w clip.wav -v VOICE -p PITCH -s SPEED WORD`` (22,050 Hz int16),
  resampled to 16 kHz (``scipy.signal.resample_poly(x, 320, 441)``), leading and trailing
  silence trimmed (frames more than 40 dB below the clip's loudest frame), then 13 MFCCs:
  pre-emphasis 0.97, 25 ms Hamming frames every 10 ms, 512-point power spectrum, 26
  triangular mel bands 0-8,000 Hz, natural log (floored at 1e-10), orthonormal DCT-II,
  coefficients 0-12 (c0 kept: it carries the frame energy).
* Saved with ``numpy.savez_compressed`` (no pickled objects): ``features`` (all frames
  concatenated, float32), ``lengths``, ``labels``, ``speakers``, ``voices``, ``pitch``,
  ``speed``, and the provenance strings ``espeak_version``, ``command``, ``feature_recipe``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.fft import dct
from scipy.io import wavfile
from scipy.signal import resample_poly

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
VOICES = (
    "en-us+m1", "en-us+f2", "en-gb+m3", "en-gb+f4", "en-gb-scotland+m4",
    "en-gb-scotland+f3", "en-029+m2", "en-gb-x-rp+f1", "en-us-nyc+m5", "en-gb-x-gbcwmd+f5",
)
PROSODIES_PER_VOICE = 3
SEED = 20231211
SAMPLE_RATE = 16000
FRAME_LENGTH = 400  # 25 ms at 16 kHz
FRAME_STEP = 160  # 10 ms
N_FFT = 512
N_MELS = 26
N_MFCC = 13
TRIM_DB = 40.0


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)


def mel_filterbank(n_mels=N_MELS, n_fft=N_FFT, sample_rate=SAMPLE_RATE, f_max=None):
    """Triangular mel filters, array of shape (n_mels, n_fft // 2 + 1)."""
    f_max = sample_rate / 2 if f_max is None else f_max
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(f_max), n_mels + 2))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    return np.clip(np.minimum(rising, falling), 0.0, None)


def mfcc(signal, sample_rate=SAMPLE_RATE):
    """13 MFCCs every 10 ms of a mono signal (float, any scale): array (n_frames, 13)."""
    x = np.asarray(signal, dtype=np.float64)
    x = np.append(x[0], x[1:] - 0.97 * x[:-1])  # pre-emphasis
    if x.size < FRAME_LENGTH:
        x = np.pad(x, (0, FRAME_LENGTH - x.size))
    n_frames = 1 + (x.size - FRAME_LENGTH) // FRAME_STEP
    idx = np.arange(FRAME_LENGTH)[None, :] + FRAME_STEP * np.arange(n_frames)[:, None]
    frames = x[idx] * np.hamming(FRAME_LENGTH)
    power = np.abs(np.fft.rfft(frames, N_FFT)) ** 2 / N_FFT
    # silence trim on frame energy
    energy_db = 10.0 * np.log10(power.sum(axis=1) + 1e-20)
    loud = np.flatnonzero(energy_db > energy_db.max() - TRIM_DB)
    power = power[loud[0]: loud[-1] + 1]
    mel = np.log(np.maximum(power @ mel_filterbank(sample_rate=sample_rate).T, 1e-10))
    return dct(mel, type=2, norm="ortho", axis=1)[:, :N_MFCC]


def synthesise(word, voice, pitch, speed, workdir):
    """Run espeak-ng; return the waveform resampled to 16 kHz, float in [-1, 1]."""
    path = Path(workdir) / "clip.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(path), "-v", voice, "-p", str(pitch), "-s", str(speed), word],
        check=True, capture_output=True,
    )
    rate, data = wavfile.read(path)
    if rate != 22050:
        raise RuntimeError(f"espeak-ng wrote {rate} Hz, expected 22050 Hz")
    return resample_poly(data.astype(np.float64) / 32768.0, 320, 441)


def main(out=None):
    out = Path(out) if out is not None else Path(__file__).with_name("spoken_digits.npz")
    version = subprocess.run(["espeak-ng", "--version"], check=True, capture_output=True,
                             text=True).stdout.strip()
    rng = np.random.default_rng(SEED)
    # (pitch 0-99, speed in words per minute) per voice and prosody, drawn once
    pitch = rng.integers(25, 76, size=(len(VOICES), PROSODIES_PER_VOICE))
    speed = rng.integers(120, 221, size=(len(VOICES), PROSODIES_PER_VOICE))
    feats, lengths, labels, speakers, voices, pitches, speeds = [], [], [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for v, voice in enumerate(VOICES):
            for p in range(PROSODIES_PER_VOICE):
                for digit, word in enumerate(WORDS):
                    f = mfcc(synthesise(word, voice, pitch[v, p], speed[v, p], tmp))
                    feats.append(f.astype(np.float32))
                    lengths.append(f.shape[0])
                    labels.append(digit)
                    speakers.append(v)
                    voices.append(voice)
                    pitches.append(pitch[v, p])
                    speeds.append(speed[v, p])
    np.savez_compressed(
        out,
        features=np.concatenate(feats),
        lengths=np.array(lengths, dtype=np.int32),
        labels=np.array(labels, dtype=np.int8),
        speakers=np.array(speakers, dtype=np.int8),
        voices=np.array(voices),
        pitch=np.array(pitches, dtype=np.int16),
        speed=np.array(speeds, dtype=np.int16),
        words=np.array(WORDS),
        espeak_version=np.array(version),
        command=np.array("espeak-ng -w clip.wav -v VOICE -p PITCH -s SPEED WORD"),
        feature_recipe=np.array(
            "resample 22050->16000 Hz (resample_poly 320/441); pre-emphasis 0.97; 25 ms "
            "Hamming frames every 10 ms; 512-point power spectrum; trim frames > 40 dB below "
            "the loudest; 26 mel bands 0-8000 Hz; natural log floored at 1e-10; orthonormal "
            "DCT-II; coefficients 0-12"
        ),
        seed=np.array(SEED),
    )
    print(f"wrote {out} ({out.stat().st_size / 1e3:.0f} kB, {len(labels)} clips, "
          f"{sum(lengths)} frames) with {version}")
    return out


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
