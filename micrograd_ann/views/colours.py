"""The colours views share: each class's, and blue and orange for a signed number.

A leaf of the views: plots, the network view and the replay page's pictures read them, so a
class or a sign has one colour wherever it is drawn.
"""

# Strong colours for points and lines, light ones for the regions behind them (plots).
POINT_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
REGION_COLOURS = ("#c6dbef", "#fcbba1", "#c7e9c0", "#dadaeb", "#fdd0a2",
                  "#e0cfc9", "#f7d3ea", "#e0e0e0", "#eeeeb0", "#c2eef2")

POSITIVE, NEGATIVE = (0x1D, 0x5F, 0xB4), (0xE0, 0x62, 0x0D)  # blue, orange (RGB)
ZERO = (0x9C, 0xA3, 0xAF)  # grey
