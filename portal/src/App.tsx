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
import { useMemo, useState } from "react";
import { adminApi } from "./api";
import type { Auth } from "./auth";
import type { PortalConfig } from "./config";
import { TenantsPage } from "./pages/TenantsPage";

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
  main: { padding: tokens.spacingHorizontalL, maxWidth: "1200px", width: "100%", boxSizing: "border-box", margin: "0 auto" },
  signIn: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, alignItems: "flex-start", padding: tokens.spacingHorizontalXXL },
});

const prefersDark = () => window.matchMedia?.("(prefers-color-scheme: dark)").matches ?? false;

export function App({ config, auth }: { readonly config: PortalConfig; readonly auth: Auth }) {
  const styles = useStyles();
  const [dark, setDark] = useState(prefersDark);
  const api = useMemo(() => adminApi(config.apiBaseUrl, () => auth.token()), [config, auth]);
  const account = auth.account;
  return (
    <FluentProvider theme={dark ? webDarkTheme : webLightTheme}>
      <div className={styles.shell}>
        <header className={styles.header}>
          <Title3 as="h1">OpenCVI</Title3>
          {account && (
            <nav aria-label="Sections">
              <TabList selectedValue="tenants">
                <Tab value="tenants">Tenants</Tab>
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
            <TenantsPage api={api} />
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
