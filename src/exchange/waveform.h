/* waveform.h — a DICOM waveform's samples, decoded (PS3.3 C.10.9): what the
 * console draws for a 12-lead ECG at 25 mm/s and 10 mm/mV.
 *
 * The input comes from outside — a modality through the PACS — and is
 * trusted in nothing: the multiplex group's description as Orthanc's
 * /instances/{id}/tags gives it (every value a string; sequences as arrays
 * of items) and its raw WaveformData (5400,1010).  Only 16-bit signed
 * samples (SS), 1–16 channels of 1–60,000 samples, sampled at up to
 * 100 kHz; each channel in a unit of volts (UCUM uV, mV or V; none given:
 * uV) with a finite sensitivity, correction factor and baseline whose
 * product keeps a sample within ±1 V per unit step.  Anything else is
 * IH_E_INVALID with what was wrong, never a guess.
 *
 * Each sample comes out in microvolts, rounded:
 *     (stored + baseline) × sensitivity × correction × (µV per unit). */
#ifndef IH_EXCHANGE_WAVEFORM_H
#define IH_EXCHANGE_WAVEFORM_H

#include "core/err.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* group: one item of (5400,0100); raw, n: its WaveformData.  *out:
 * {"frequency", "unit": "uV", "channels": [{"label", "samples": [...]}]}. */
ih_err ih_waveform_decode(const json_t *group, const uint8_t *raw, size_t n, json_t **out);

#endif
