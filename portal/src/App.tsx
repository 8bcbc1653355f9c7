import {
  Body1,
  Button,
  FluentProvider,
  makeStyles,
  Switch,
  Tab,
  TabList,
  Title2,
  Title3,
  tokens,
  webDarkTheme,
  webLightTheme,
} from "@fluentui/react-components";
import { useEffect, useMemo, useState } from "react";
import { adminApi } from "./api";
import type { Auth } from "./auth";
import type { PortalConfig } from "./config";
import { CallPage } from "./pages/CallPage";
import { HistoryPage } from "./pages/HistoryPage";
import { LiveCallsPage } from "./pages/LiveCallsPage";
import { PoliciesPage } from "./pages/PoliciesPage";
import { PoolPage } from "./pages/PoolPage";
import { TenantsPage } from "./pages/TenantsPage";

type Route = { readonly page: "tenants" | "policies" | "live" | "history" | "pool" } | { readonly page: "call"; readonly callId: string };

/** Pages by URL hash (#/calls, #/history, #/calls/<id>, #/pool), so each has a link of its own and the back button works. */
function routeOf(hash: string): Route {
  const path = hash.replace(/^#/, "");
  const call = /^\/calls\/(.+)$/.exec(path);
  if (call?.[1]) return { page: "call", callId: decodeURIComponent(call[1]) };
  if (path === "/calls") return { page: "live" };
  if (path === "/history") return { page: "history" };
  if (path === "/policies") return { page: "policies" };
  if (path === "/pool") return { page: "pool" };
  return { page: "tenants" };
}

const TAB_PATH = { tenants: "#/tenants", policies: "#/policies", live: "#/calls", history: "#/history", pool: "#/pool" } as const;

const useStyles = makeStyles({
  shell: { minHeight: "100vh", display: "flex", flexDirection: "column", backgroundColor: tokens.colorNeutralBackground2 },
  header: {
    display: "flex",
    flexWrap: "wrap",
    alignItems: "center",
    gap: tokens.spacingHorizontalL,
    padding: `${tokens.spacingVerticalS} ${tokens.spacingHorizontalL}`,
    backgroundColor: tokens.colorNeutralBackground1,
    borderBottom: `1px solid ${tokens.colorNeutralStroke2}`,
  },
  spacer: { flexGrow: 1 },
  // The sections wrap on a narrow screen instead of running past the header's background.
  tabs: { flexWrap: "wrap" },
  nav: { maxWidth: "100%" },
  main: { padding: tokens.spacingHorizontalL, maxWidth: "1200px", width: "100%", boxSizing: "border-box", margin: "0 auto" },
  signIn: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, alignItems: "flex-start", padding: tokens.spacingHorizontalXXL },
});

const prefersDark = () => window.matchMedia?.("(prefers-color-scheme: dark)").matches ?? false;

export function App({ config, auth }: { readonly config: PortalConfig; readonly auth: Auth }) {
  const styles = useStyles();
  const [dark, setDark] = useState(prefersDark);
  const api = useMemo(
    () =>
      adminApi(
        config.apiBaseUrl,
        () => auth.token(),
        () => auth.signInAgain(),
      ),
    [config, auth],
  );
  const account = auth.account;
  const [route, setRoute] = useState(() => routeOf(window.location.hash));
  useEffect(() => {
    const onHash = () => setRoute(routeOf(window.location.hash));
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  const tab = route.page === "call" ? "history" : route.page;
  // Until the token says otherwise, show the tenant admin's (smaller) set of actions.
  const [operator, setOperator] = useState(false);
  useEffect(() => {
    if (account)
      void auth.roles().then(
        (roles) => setOperator(roles.includes("CVI.Admin")),
        () => setOperator(false),
      );
  }, [auth, account]);
  return (
    <FluentProvider theme={dark ? webDarkTheme : webLightTheme}>
      <div className={styles.shell}>
        <header className={styles.header}>
          <Title3 as="h1">OpenCVI</Title3>
          {account && (
            <nav aria-label="Sections" className={styles.nav}>
              <TabList
                className={styles.tabs}
                selectedValue={tab}
                onTabSelect={(_, d) => (window.location.hash = TAB_PATH[d.value as keyof typeof TAB_PATH])}
              >
                <Tab value="tenants">Tenants</Tab>
                <Tab value="policies">Providers and policies</Tab>
                <Tab value="live">Live calls</Tab>
                <Tab value="history">Call history</Tab>
                {operator && <Tab value="pool">Pool</Tab>}
              </TabList>
            </nav>
          )}
          <span className={styles.spacer} />
          <Switch label="Dark theme" checked={dark} onChange={(_, d) => setDark(d.checked)} />
          {account && (
            <>
              <Body1 aria-label="Signed in as">{account.username}</Body1>
              <Button onClick={() => void auth.signOut()}>Sign out</Button>
            </>
          )}
        </header>
        <main className={styles.main}>
          {account ? (
            route.page === "policies" ? (
              <PoliciesPage api={api} />
            ) : route.page === "live" ? (
              <LiveCallsPage api={api} />
            ) : route.page === "history" ? (
              <HistoryPage api={api} />
            ) : route.page === "pool" ? (
              <PoolPage api={api} />
            ) : route.page === "call" ? (
              <CallPage api={api} callId={route.callId} />
            ) : (
              <TenantsPage api={api} operator={operator} />
            )
          ) : (
            <section className={styles.signIn} aria-labelledby="sign-in-title">
              <Title2 as="h2" id="sign-in-title">
                Sign in
              </Title2>
              <Body1>Operators and tenant admins sign in with their Microsoft Entra ID account.</Body1>
              <Button appearance="primary" onClick={() => void auth.signIn()}>
                Sign in with Microsoft
              </Button>
            </section>
          )}
        </main>
      </div>
    </FluentProvider>
  );
}
