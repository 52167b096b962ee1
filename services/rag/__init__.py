"""The RAG chatbot (port 8004): cited answers over the organisation's data and the knowledge base
(``docs/kb``), and ranked recommendations for a hotspot. See ``services/rag/app.py``."""

from services.common.settings import apply_offline_env

# before haystack, sentence-transformers or huggingface_hub are imported by any module of this package:
# telemetry off and no hub lookups, in whatever way the service is started
apply_offline_env()
