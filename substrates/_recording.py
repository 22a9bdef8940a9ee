class Recording:  # placeholder until the recording helper lands
    pass


class RecordingFormatError(ValueError):
    pass


def detect_spikes():
    pass
