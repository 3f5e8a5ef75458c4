/**
 * A row of the `sessions` table (migrations/0003): what the consumer's sessions stage writes and
 * reads back to merge, and what `GET /v1/sessions/{id}` and `GET /v1/users/{id}/sessions` show.
 */
export interface SessionRow {
  session_id: string;
  user_id: string;
  started_at: Date;
  last_at: Date;
  events: number;
  page_views: number;
  purchases: number;
  converted: boolean;
  entry_page: string | null;
  entry_page_at: Date | null;
  exit_page: string | null;
  exit_page_at: Date | null;
  device_type: string;
  country: string;
  client_session_id: string;
  closed: boolean;
  closed_at: Date | null;
}
