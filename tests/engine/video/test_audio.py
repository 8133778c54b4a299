"""engine.video.audio: VidHarm's log-mel parameters, Slaney mel scale, per-spectrogram dB floor, crops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.video.audio import AudioConfig, LogMel, SpecAugment, at_least, fit_length, is_digital_silence


def slaney_mel(hz: np.ndarray) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above (27 mels per factor 6.4)."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz * 3 / 200
    return np.where(hz < 1000, linear, 15 + np.log(np.maximum(hz, 1e-9) / 1000) * 27 / np.log(6.4))


def slaney_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    return np.where(mels < 15, mels * 200 / 3, 1000 * np.exp((mels - 15) * np.log(6.4) / 27))


def tone(frequency: float, seconds: float = 1.0, rate: int = 44100, amplitude: float = 0.5) -> torch.Tensor:
    return torch.from_numpy((amplitude * np.sin(2 * np.pi * frequency * np.arange(int(seconds * rate)) / rate))
                            .astype(np.float32))


def test_window_and_hop_follow_vidharm() -> None:
    config = AudioConfig()
    assert (config.n_fft, config.hop) == (1411, 705)
    assert config.frames_per_second == pytest.approx(62.55, abs=0.01)


def test_a_tone_peaks_in_the_slaney_band_of_its_frequency() -> None:
    log_mel = LogMel()
    centres = slaney_hz(np.linspace(slaney_mel(20.0), slaney_mel(15000.0), 130))[1:-1]  # band centres
    for frequency in (300.0, 1000.0, 2400.0, 7000.0):
        spectrogram = log_mel(tone(frequency))
        assert spectrogram.shape == (128, 1 + 44100 // 705)
        band = int(spectrogram[:, 10:-10].mean(dim=1).argmax())
        assert abs(band - int(np.abs(centres - frequency).argmin())) <= 1


def test_decibels_are_floored_80_below_each_spectrograms_own_peak_and_normalised() -> None:
    log_mel = LogMel()
    loud, quiet = tone(1000.0, amplitude=0.5), tone(1000.0, amplitude=0.005)
    batch = log_mel(torch.stack([loud, quiet]))
    for single, batched in zip((log_mel(loud), log_mel(quiet)), batch):
        torch.testing.assert_close(single, batched)  # the floor is per item, not over the batch
        decibels = single * 17.323 - 28.393
        assert float(decibels.max() - decibels.min()) == pytest.approx(80.0, abs=1e-3)
    # 40 dB quieter: the same shape shifted by 40 dB (before the floor)
    shift = (batch[0].max() - batch[1].max()) * 17.323
    assert float(shift) == pytest.approx(40.0, abs=0.1)


def test_silence_is_detected_only_when_every_sample_is_zero() -> None:
    assert is_digital_silence(np.zeros(100, np.float32))
    assert not is_digital_silence(np.full(100, 1e-6, np.float32))
    assert not is_digital_silence(np.zeros(0, np.float32))


def test_fit_length_cuts_centred_or_wraps() -> None:
    spectrogram = torch.arange(10.0).repeat(2, 1)
    assert fit_length(spectrogram, 4).tolist()[0] == [3.0, 4.0, 5.0, 6.0]
    assert fit_length(spectrogram, 4, offset=100).tolist()[0] == [6.0, 7.0, 8.0, 9.0]
    assert fit_length(spectrogram, 13).tolist()[0] == [*range(10), 0, 1, 2]
    assert at_least(spectrogram, 5) is spectrogram and at_least(spectrogram, 12).shape == (2, 12)


def test_very_short_audio_still_gives_a_spectrogram() -> None:
    assert LogMel()(tone(440.0, seconds=0.01)).shape[0] == 128


def test_spec_augment_masks_bands_and_frames_with_the_mean() -> None:
    torch.manual_seed(0)
    batch = torch.ones(8, 1, 128, 300)
    masked = SpecAugment()(batch)
    zero = masked == 0
    assert zero.any() and not zero.all()
    bands_hit = zero.all(dim=3).sum(dim=2)  # whole bands masked per item
    assert int(bands_hit.max()) <= 2 * 27
