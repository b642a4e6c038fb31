"""Every visible string of the UI, in Korean (the default) and English. No streamlit import.

`text(lang, key, **values)` formats one string; `error_text(lang, code, message)` turns an API error
code into plain words (the API's own English message is the fallback for codes we do not know).
"""
from __future__ import annotations

from typing import Literal

Language = Literal["ko", "en"]
LANGUAGES: tuple[Language, ...] = ("ko", "en")
LANGUAGE_LABELS: dict[Language, str] = {"ko": "한국어", "en": "English"}

STRINGS: dict[str, tuple[str, str]] = {
    # frame and navigation
    "app_title": ("Triple — 근거를 보여주는 Q&A", "Triple — answers you can audit"),
    "nav_chat": ("채팅", "Chat"),
    "nav_documents": ("문서", "Documents"),
    "nav_audit": ("감사 기록", "Audit"),
    "nav_health": ("상태", "Health"),
    "nav_section_ask": ("질문", "Ask"),
    "nav_section_operator": ("운영자", "Operator"),
    "language": ("언어", "Language"),
    # sidebar
    "backend": ("백엔드", "Backend"),
    "health_ok": ("정상", "healthy"),
    "health_degraded": ("일부 장애", "degraded"),
    "health_down": ("연결 안 됨", "unreachable"),
    "session_id": ("세션 ID", "Session id"),
    "providers": ("답변 제공자", "Answer providers"),
    "preset": ("프리셋", "Preset"),
    "preset_custom": ("직접 선택", "Custom"),
    "role_reasoning": ("추론 (질문 정리)", "Reasoning (query condensing)"),
    "role_generation": ("생성 (답변 작성)", "Generation (answer writing)"),
    "apply": ("적용", "Apply"),
    "reset_providers": ("기본값으로", "Reset to defaults"),
    "providers_applied": ("제공자를 바꿨습니다: 추론 {reasoning}, 생성 {generation}",
                          "Providers set: reasoning {reasoning}, generation {generation}"),
    "provider_status": ("제공자 준비 상태", "Provider readiness"),
    "ready": ("준비됨", "ready"),
    "not_ready": ("준비 안 됨", "not ready"),
    "current_selection": ("현재: 추론 **{reasoning}** · 생성 **{generation}**",
                          "Now: reasoning **{reasoning}** · generation **{generation}**"),
    # chat
    "chat_title": ("무엇이든 물어보세요", "Ask anything"),
    "chat_caption": ("답변 아래에서 근거 문서, 점수, 이미지를 확인할 수 있습니다.",
                     "Every answer lists the documents, scores and images it is based on."),
    "chat_placeholder": ("질문을 입력하세요 (예: 혼자 쓰는 초경량 텐트는 무게가 몇 그램이에요?)",
                         "Ask a question (e.g. How heavy is the solo ultralight tent?)"),
    "new_conversation": ("새 대화", "New conversation"),
    "empty_chat": ("아직 대화가 없습니다. 아래에 질문을 입력해 보세요.",
                   "No messages yet. Type a question below."),
    "session_expired": ("세션이 만료되었습니다. 이전 대화는 감사 기록에 남아 있습니다.",
                        "Your session has expired. The earlier conversation is kept in the audit trail."),
    "start_again": ("새로 시작하기", "Start again"),
    "sources": ("출처 {count}개", "{count} sources"),
    "source_line": ("**[{number}] {document}** · {locator} · 점수 {score}",
                    "**[{number}] {document}** · {locator} · score {score}"),
    "cited": ("답변에 인용됨", "cited in the answer"),
    "retriever_scores": ("검색기 {retriever} · dense {dense} · bm25 {bm25}",
                         "retriever {retriever} · dense {dense} · bm25 {bm25}"),
    "images": ("관련 이미지", "Images"),
    "answered_by": ("생성 {generation} · 추론 {reasoning}", "generation {generation} · reasoning {reasoning}"),
    "timings": ("총 {total} (검색 {retrieve} · 생성 {generate})",
                "total {total} (retrieve {retrieve} · generate {generate})"),
    "tokens": ("토큰 입력 {input} · 출력 {output}{estimated}", "tokens in {input} · out {output}{estimated}"),
    "estimated": (" (추정)", " (estimated)"),
    "fallback_used": ("대체 제공자가 답했습니다", "a fallback provider answered"),
    "none": ("없음", "none"),
    "feedback_prompt": ("이 답변이 도움이 되었나요?", "Was this answer helpful?"),
    "feedback_comment": ("의견 (선택)", "Comment (optional)"),
    "feedback_send": ("의견 보내기", "Send feedback"),
    "feedback_thanks": ("의견 감사합니다!", "Thanks for the feedback!"),
    "answer_failed": ("답변을 만들지 못했습니다: {reason}", "No answer: {reason}"),
    "thinking": ("근거를 찾는 중…", "Looking for sources…"),
    # operator
    "operator_token": ("운영자 토큰", "Operator token"),
    "operator_token_help": ("문서와 감사 기록은 운영자 토큰이 필요합니다 (`make run`이 .env에 생성합니다).",
                            "Documents and audit need the operator token (`make run` writes it to .env)."),
    "operator_token_save": ("확인", "Use token"),
    "operator_token_forget": ("토큰 지우기", "Forget token"),
    "endpoint_pending": ("이 기능의 API가 아직 이 백엔드에 없습니다 ({what}). 백엔드를 업데이트한 뒤 다시 열어 주세요.",
                         "This backend does not offer this yet ({what}). Update the backend and reload."),
    # documents
    "documents_title": ("문서와 색인", "Documents and index"),
    "upload": ("문서 올리기", "Upload documents"),
    "upload_help": ("CSV, XLSX, MD, TXT, PDF, JSON", "CSV, XLSX, MD, TXT, PDF, JSON"),
    "upload_button": ("올리고 색인하기", "Upload and index"),
    "uploaded": ("{name} 업로드됨 — 색인을 시작했습니다.", "{name} uploaded — indexing started."),
    "documents": ("문서 목록", "Documents"),
    "no_documents": ("문서가 없습니다.", "No documents."),
    "delete": ("삭제", "Delete"),
    "deleted": ("{name} 삭제를 요청했습니다.", "Deletion of {name} requested."),
    "rebuild": ("색인 다시 만들기", "Rebuild the index"),
    "rebuild_started": ("색인 재구축을 시작했습니다.", "Index rebuild started."),
    "task_progress": ("{stage} — {done}/{total}", "{stage} — {done}/{total}"),
    "task_queued": ("작업 대기 중…", "Waiting for a worker…"),
    "task_done": ("색인 완료 ({state}).", "Index build finished ({state})."),
    "task_failed": ("색인 실패: {error}", "Index build failed: {error}"),
    "task_timeout": ("작업이 아직 끝나지 않았습니다. 잠시 후 이 페이지를 다시 열어 보세요.",
                     "The task is still running. Reopen this page in a moment."),
    "active_index": ("사용 중인 색인", "Active index"),
    "no_active_index": ("사용 중인 색인이 없습니다.", "No active index."),
    "index_line": ("빌드 #{id} · {model} · 청크 {chunks}개", "Build #{id} · {model} · {chunks} chunks"),
    "recent_builds": ("최근 빌드", "Recent builds"),
    "col_source": ("문서", "Document"),
    "col_kind": ("종류", "Kind"),
    "col_status": ("상태", "Status"),
    "col_rows": ("행/조각", "Rows"),
    "col_size": ("크기", "Size"),
    "col_indexed": ("색인 시각", "Indexed at"),
    "col_error": ("오류", "Error"),
    # audit
    "audit_title": ("감사 기록", "Audit trail"),
    "filters": ("필터", "Filters"),
    "filter_user": ("사용자 ID", "User id"),
    "filter_from": ("시작일", "From"),
    "filter_to": ("종료일", "To"),
    "filter_provider": ("생성 제공자", "Generation provider"),
    "filter_feedback": ("피드백", "Feedback"),
    "filter_status": ("상태", "Status"),
    "any": ("전체", "any"),
    "feedback_up": ("좋아요", "thumbs up"),
    "feedback_down": ("싫어요", "thumbs down"),
    "feedback_none": ("없음", "none"),
    "page": ("페이지", "Page"),
    "audit_count": ("질문 {count}개", "{count} questions"),
    "no_questions": ("조건에 맞는 질문이 없습니다.", "No questions match."),
    "col_question": ("질문", "Question"),
    "col_user": ("사용자", "User"),
    "col_provider": ("제공자", "Provider"),
    "col_created": ("시각", "When"),
    "col_feedback": ("피드백", "Feedback"),
    "trace_pick": ("자세히 볼 질문", "Question to inspect"),
    "trace": ("추적", "Trace"),
    "standalone_query": ("독립 질의", "Standalone query"),
    "route": ("경로", "Route"),
    "retrieved_chunks": ("검색된 조각", "Retrieved chunks"),
    "answer": ("답변", "Answer"),
    "prompt_version": ("프롬프트 버전", "Prompt version"),
    "replay": ("다른 제공자로 다시 실행", "Replay with another provider"),
    "replay_button": ("다시 실행", "Replay"),
    "use_original_index": ("원래 색인 사용", "Use the original index"),
    "original": ("원래 답변", "Original"),
    "replayed": ("다시 실행한 답변", "Replay"),
    "sources_added": ("추가된 출처", "Sources added"),
    "sources_removed": ("빠진 출처", "Sources removed"),
    "answer_diff": ("답변 차이", "Answer diff"),
    "export": ("내보내기", "Export"),
    "export_prepare": ("{fmt} 파일 만들기", "Prepare {fmt}"),
    "export_download": ("{fmt} 내려받기", "Download {fmt}"),
    # health
    "health_title": ("시스템 상태", "System health"),
    "check_database": ("데이터베이스", "Database"),
    "check_redis": ("Redis", "Redis"),
    "check_chroma": ("Chroma 벡터 저장소", "Chroma vector store"),
    "check_worker": ("Celery 워커", "Celery worker"),
    "check_index": ("사용 중인 색인", "Active index"),
    "ok": ("정상", "OK"),
    "failing": ("문제 있음", "failing"),
    "refresh": ("새로 고침", "Refresh"),
    "overall": ("전체 상태: {status}", "Overall: {status}"),
}

ERRORS: dict[str, tuple[str, str]] = {
    "backend_unreachable": ("서버에 연결할 수 없습니다. 백엔드가 실행 중인지 확인해 주세요.",
                            "Cannot reach the server. Check that the backend is running."),
    "backend_timeout": ("서버 응답이 너무 늦습니다. 잠시 후 다시 시도해 주세요.",
                        "The server took too long to answer. Try again in a moment."),
    "bad_response": ("서버가 알 수 없는 응답을 보냈습니다.", "The server sent an answer we could not read."),
    "endpoint_unavailable": ("이 기능은 아직 서버에 없습니다.", "The server does not offer this yet."),
    "session_expired": ("세션이 만료되었습니다. 새로 시작해 주세요.", "Your session has expired. Please start again."),
    "unknown_user": ("알 수 없는 세션입니다. 새 세션을 시작합니다.", "Unknown session; a new one is started."),
    "empty_question": ("질문을 입력해 주세요.", "Please type a question."),
    "question_too_long": ("질문이 너무 깁니다. 줄여서 다시 보내 주세요.",
                          "The question is too long. Please shorten it."),
    "invalid_characters": ("질문에 사용할 수 없는 문자가 있습니다.",
                           "The question contains characters we cannot accept."),
    "index_not_ready": ("검색 색인이 아직 준비되지 않았습니다. 운영자에게 문의해 주세요.",
                        "The search index is not ready yet. Please ask an operator."),
    "index_model_mismatch": ("색인과 임베딩 모델이 맞지 않습니다. 색인을 다시 만들어야 합니다.",
                             "The index was built with another embedding model; it must be rebuilt."),
    "embedding_model_changed": ("임베딩 모델이 바뀌었습니다. 색인을 다시 만들어야 합니다.",
                                "The embedding model changed; the index must be rebuilt."),
    "generation_failed": ("답변 생성에 실패했습니다. 다른 제공자를 선택해 보세요.",
                          "Generating the answer failed. Try another provider."),
    "provider_not_ready": ("선택한 제공자가 준비되지 않았습니다: {message}", "That provider is not ready: {message}"),
    "unknown_provider": ("알 수 없는 제공자입니다.", "Unknown provider."),
    "unknown_preset": ("알 수 없는 프리셋입니다.", "Unknown preset."),
    "nothing_to_change": ("바꿀 항목을 선택해 주세요.", "Choose something to change."),
    "redis_unavailable": ("세션 저장소(Redis)에 연결할 수 없습니다. 잠시 후 다시 시도해 주세요.",
                          "The session store (Redis) is unreachable. Try again shortly."),
    "rate_limited": ("요청이 너무 많습니다. 잠시 후 다시 시도해 주세요.", "Too many requests. Please wait a moment."),
    "operator_auth_required": ("운영자 토큰이 필요합니다.", "The operator token is required."),
    "operator_forbidden": ("운영자 토큰이 올바르지 않습니다.", "The operator token is not valid."),
    "build_in_progress": ("이미 색인 작업이 진행 중입니다. 끝난 뒤 다시 시도해 주세요.",
                          "An index build is already running. Try again when it has finished."),
    "unsupported_media_type": ("지원하지 않는 파일 형식입니다.", "That file type is not supported."),
    "payload_too_large": ("파일이 너무 큽니다.", "The file is too large."),
    "duplicate_document": ("같은 문서가 이미 있습니다.", "That document is already there."),
    "file_too_large": ("파일이 너무 큽니다.", "The file is too large."),
    "unsupported_file_type": ("지원하지 않는 파일 형식입니다 (CSV, XLSX, MD, TXT, PDF, JSON).",
                              "That file type is not supported (CSV, XLSX, MD, TXT, PDF, JSON)."),
    "missing_file": ("파일을 선택해 주세요.", "Choose a file first."),
    "invalid_file_name": ("파일 이름을 사용할 수 없습니다.", "That file name cannot be used."),
    "unknown_task": ("작업을 찾을 수 없습니다.", "That task is unknown."),
    "unknown_document": ("문서를 찾을 수 없습니다.", "That document no longer exists."),
    "unknown_chat": ("해당 답변을 찾을 수 없습니다.", "That answer no longer exists."),
    "not_your_chat": ("다른 세션의 답변입니다.", "That answer belongs to another session."),
    "internal_error": ("서버 내부 오류가 발생했습니다. 기록되었으니 잠시 후 다시 시도해 주세요.",
                       "Something went wrong on the server; it has been logged. Try again shortly."),
}

_FALLBACK_ERROR = ("요청을 처리하지 못했습니다: {message}", "The request failed: {message}")


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def text(lang: str, key: str, **values: object) -> str:
    """One UI string in `lang`; an unknown key shows itself, so a missing translation is visible."""
    pair = STRINGS.get(key)
    if pair is None:
        return key
    template = _pick(pair, lang)
    return template.format(**values) if values else template


def error_text(lang: str, code: str, message: str = "") -> str:
    """Plain words for an error code (never a traceback)."""
    template = _pick(ERRORS.get(code, _FALLBACK_ERROR), lang)
    return template.format(message=message or code)
