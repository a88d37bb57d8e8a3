"""A seeded model of a CNC lathe, stepped by an injected clock.

The spindle alternates between cutting jobs (1800-3200 rpm, 55-90 % load, 40-120 s)
and short idle spells. Temperature follows the load with thermal inertia around
65-72 °C plus a slow random drift; vibration, power and oil pressure follow spindle
speed and load. Every ``overheat_every_s`` seconds an overheat episode heats the machine
past 85 °C (peak 87-90 °C, with raised vibration) before it cools back. The ``running``
status follows stop/start; the door is open whenever the spindle stands still between
jobs (the operator changes the part), never while it cuts.

The model is pure: the same seed and the same sequence of ``now_s`` values give the
same outputs, so tests step it without waiting.
"""

from __future__ import annotations

import functools
import math
import random
import zlib
from dataclasses import dataclass

OVERHEAT_THRESHOLD_C = 85.0

_MAX_STEP_S = 0.5
_AMBIENT_C = 65.5
_LOAD_HEAT_C = 6.0
_THERMAL_TAU_S = 30.0
_HEATING_TAU_S = 15.0
_HEATING_TARGET_C = 95.0


@dataclass(frozen=True, slots=True)
class MachineState:
    """What the machine's sensors show at ``t_s``."""

    t_s: float
    temperature_c: float
    vibration_mm_s: float
    power_kw: float
    spindle_rpm: float
    oil_pressure_bar: float
    cutting: bool
    overheating: bool
    running: bool = True
    door_open: bool = False

    def values(self) -> dict[str, float]:
        """Sensor values by field name (``running`` and ``door_open`` as 1.0 or 0.0)."""
        return {
            "running": float(self.running),
            "door_open": float(self.door_open),
            "temperature_c": self.temperature_c,
            "vibration_mm_s": self.vibration_mm_s,
            "power_kw": self.power_kw,
            "spindle_rpm": self.spindle_rpm,
            "oil_pressure_bar": self.oil_pressure_bar,
        }


class MachineModel:
    """One simulated machine; call :meth:`sample` with a non-decreasing ``now_s``."""

    def __init__(
        self,
        *,
        seed: int | str,
        overheat_every_s: float = 300.0,
        start_s: float = 0.0,
    ) -> None:
        self._rng = random.Random(str(seed))
        self._overheat_every_s = overheat_every_s
        self._t_s = start_s
        self._next_overheat_s = start_s + overheat_every_s if overheat_every_s > 0 else math.inf
        self._cutting = False
        self._phase_end_s = start_s + self._rng.uniform(2.0, 8.0)
        self._rpm_target = 0.0
        self._load_target = 0.05
        self._rpm = 0.0
        self._load = 0.05
        self._drift_c = 0.0
        self._temperature_c = _AMBIENT_C + _LOAD_HEAT_C * self._load + self._rng.uniform(0, 1.5)
        self._heating = False
        self._peak_c = 0.0
        self._state = self._measure()

    @property
    def state(self) -> MachineState:
        return self._state

    running = True

    def set_running(self, running: bool) -> None:
        """Stop (the spindle runs down within a few seconds and stays at 0) or start."""
        if running == self.running:
            return
        self.running = running
        self._cutting = True  # the next phase is idle; a started machine then cuts again
        self._phase_end_s = self._t_s
        if not running:
            self._rpm_target = 0.0
            self._load_target = 0.05

    def sample(self, *, now_s: float) -> MachineState:
        """Advance the model to ``now_s`` and return what the sensors show then."""
        if now_s < self._t_s:
            raise ValueError(f"time went backwards: {now_s} < {self._t_s}")
        if now_s > self._t_s:
            steps = math.ceil((now_s - self._t_s) / _MAX_STEP_S)
            dt_s = (now_s - self._t_s) / steps
            for _ in range(steps):
                self._step(dt_s)
            self._t_s = now_s
            self._state = self._measure()
        return self._state

    def _step(self, dt_s: float) -> None:
        t_s = self._t_s + dt_s
        self._t_s = t_s
        if t_s >= self._phase_end_s:
            self._next_phase()
        if t_s >= self._next_overheat_s:
            self._next_overheat_s += self._overheat_every_s
            if not self._heating:
                self._heating = True
                self._peak_c = self._rng.uniform(87.0, 90.0)
        rpm_tau_s = 1.5 if self.running else 0.4
        self._rpm += (self._rpm_target - self._rpm) * _approach(dt_s, tau_s=rpm_tau_s)
        self._load += (self._load_target - self._load) * _approach(dt_s, tau_s=2.0)
        self._drift_c += -self._drift_c * dt_s / 120.0 + 0.08 * math.sqrt(dt_s) * self._rng.gauss(
            0.0, 1.0
        )
        if self._heating:
            target_c, tau_s = _HEATING_TARGET_C, _HEATING_TAU_S
        else:
            target_c = _AMBIENT_C + _LOAD_HEAT_C * self._load + self._drift_c
            tau_s = _THERMAL_TAU_S
        self._temperature_c += (target_c - self._temperature_c) * _approach(dt_s, tau_s=tau_s)
        if self._heating and self._temperature_c >= self._peak_c:
            self._heating = False

    def _next_phase(self) -> None:
        rng = self._rng
        self._cutting = not self._cutting and self.running
        if self._cutting:
            self._rpm_target = round(rng.uniform(1800.0, 3200.0) / 50.0) * 50.0
            self._load_target = rng.uniform(0.55, 0.9)
            self._phase_end_s = self._t_s + rng.uniform(40.0, 120.0)
        else:
            self._rpm_target = 0.0
            self._load_target = 0.05
            self._phase_end_s = self._t_s + rng.uniform(8.0, 25.0)

    def _measure(self) -> MachineState:
        rng = self._rng
        rpm = self._rpm if self._rpm > 20.0 else 0.0
        overheating = self._heating or self._temperature_c > OVERHEAT_THRESHOLD_C
        vibration = 0.35 + 3.6 * self._load * (rpm / 3000.0) + rng.gauss(0.0, 0.12)
        if self._heating:
            vibration += 1.5
        power = 1.1 + 15.5 * self._load + 0.0006 * rpm + rng.gauss(0.0, 0.25)
        oil = 4.6 + 0.35 * (rpm / 3000.0) - 0.03 * (self._temperature_c - 68.0)
        return MachineState(
            t_s=self._t_s,
            temperature_c=self._temperature_c + rng.gauss(0.0, 0.05),
            vibration_mm_s=max(0.05, vibration),
            power_kw=max(0.0, power),
            spindle_rpm=max(0.0, rpm + (rng.gauss(0.0, 4.0) if rpm else 0.0)),
            oil_pressure_bar=max(0.0, oil + rng.gauss(0.0, 0.04)),
            cutting=self._cutting,
            overheating=overheating,
            running=self.running,
            door_open=not self._cutting and rpm == 0.0,
        )


def extra_signal(name: str, *, now_s: float) -> float:
    """A smooth 40-60 signal for a sensor the model does not know, stable per name."""
    omega, phase = _extra_wave(name)
    return 50.0 + 10.0 * math.sin(omega * now_s + phase)


@functools.lru_cache(maxsize=4096)
def _extra_wave(name: str) -> tuple[float, float]:
    """``(angular frequency, phase)`` of :func:`extra_signal` for ``name``."""
    crc = zlib.crc32(name.encode())
    period_s = 60.0 + crc % 240
    return 2 * math.pi / period_s, (crc >> 8) % 628 / 100.0


def _approach(dt_s: float, *, tau_s: float) -> float:
    """Fraction of the distance to its target a first-order system covers in ``dt_s``."""
    return 1.0 - math.exp(-dt_s / tau_s)


def text_signal(name: str, *, now_s: float) -> str:
    """A text tag's value: ``<first letters of the name>-<n>``, n changing every 5 minutes
    (a recipe or batch that changes now and then)."""
    return f"{name[:3].upper()}-{17 + int(now_s // 300) % 83}"
