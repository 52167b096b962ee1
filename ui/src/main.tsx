import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { adoptTokenFromHash, loadConfig, refreshRole } from "./api";
import { App } from "./App";
import "./styles.css";

adoptTokenFromHash();
void loadConfig().then(() => {
  void refreshRole();
  createRoot(document.getElementById("root")!).render(
    <StrictMode>
      <App />
    </StrictMode>,
  );
});
