"""hw_agents: the dynamic DNN on a real board: backends (DVFS, pinning, power, temperature), live side.

Never imports gymnasium, simpy or stable-baselines3 (a board has numpy and torch only).
"""

from hw_agents.agent import DeploySummary, deploy
from hw_agents.board import BOARDS, Board, BoardPE, ProbeReport, open_board
from hw_agents.errors import BoardAbsentError, BoardError, BoardPermissionError, SysfsFormatError
from hw_agents.loadgen import LoadReplayer
from hw_agents.profiler import profile
from hw_agents.recorder import record_trace

__all__ = [
    "BOARDS",
    "Board",
    "BoardAbsentError",
    "BoardError",
    "BoardPE",
    "BoardPermissionError",
    "DeploySummary",
    "LoadReplayer",
    "ProbeReport",
    "SysfsFormatError",
    "deploy",
    "open_board",
    "profile",
    "record_trace",
]
