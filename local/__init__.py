"""Emulation of AWS on this machine: the local AWS (moto), the task's processes, and make local's bookkeeping."""
