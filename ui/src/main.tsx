import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { adoptTokenFromHash, loadConfig } from "./api";
import { App } from "./App";
import "./styles.css";

adoptTokenFromHash();
void loadConfig().then(() => {
  createRoot(document.getElementById("root")!).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
});
