# Corpus locations. VCTK empty: the recipe generates the embedded espeak-ng corpus
# under db/ (offline, deterministic). Set it to a VCTK copy to use real speech.
VCTK=${VCTK:-}
