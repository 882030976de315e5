"""hw_agents: the dynamic DNN on a real board: backends (DVFS, pinning, power, temperature), live side.

Never imports gymnasium, simpy or stable-baselines3 (a board has numpy and torch only).
"""

from hw_agents.board import BOARDS, PE, Board, ProbeReport, open_board
from hw_agents.errors import BoardAbsentError, BoardError, BoardPermissionError, SysfsFormatError

__all__ = [
    "BOARDS",
    "PE",
    "Board",
    "BoardAbsentError",
    "BoardError",
    "BoardPermissionError",
    "ProbeReport",
    "SysfsFormatError",
    "open_board",
]
