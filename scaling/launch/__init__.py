"""Where and how groups run: here (``runner``), on a SLURM cluster (``slurm``), sharded over
devices and hosts (``devices``); claims on groups (``lock``), signals (``signals``), the sweep
directory (``directory``) and where a sweep stands (``status``).  Every launcher only
schedules groups; a group is an idempotent unit of work."""
