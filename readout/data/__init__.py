"""Small data files shipped with jewelhead's readout layer.

``spoken_digits.npz``
    Synthetic spoken digits "zero" to "nine" (10 digits x 30 voice variants) as 13 MFCCs
    per 10 ms frame, made offline with espeak-ng by ``make_spoken_digits.py`` in this folder
    and read by :func:`readout.load_spoken_digits`. The file records how it was made.
"""
