/// `Render`: figures (PNG, SVG) and the HTML report (issue 4). Knows nothing of neural networks.
public enum RenderModule {}
