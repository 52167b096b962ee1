import { useState, type ReactNode } from "react";
import { download } from "../api";

/** A link to a file the API serves. The API needs the token, which a plain link cannot send: a click
 * fetches the file with it and saves it (the href stays for "copy link" and for tests). */
export function DownloadLink({ href, children, className, testId, fallback }: {
  href: string; children: ReactNode; className?: string; testId?: string; fallback?: string;
}) {
  const [error, setError] = useState<string | null>(null);
  return (
    <>
      <a href={href} className={className} data-testid={testId} download
         onClick={(e) => {
           e.preventDefault();
           setError(null);
           download(href, fallback).catch((err: Error) => setError(err.message));
         }}>{children}</a>
      {error ? <span className="muted small" role="alert"> {error}</span> : null}
    </>
  );
}
