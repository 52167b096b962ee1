"""The RAG chatbot (port 8004): cited answers over the organisation's data and the knowledge base
(``docs/kb``), and ranked recommendations for a hotspot. See ``services/rag/app.py``."""
