"""Machine bundles as esbuild writes them with State Backed's flags
(`--external:npm:xstate --alias:xstate=npm:xstate`, minified, names kept): xstate is
imported from `npm:xstate`, which the runtime provides. Version 1 and 2 of a lamp and the
migration between them, as tests/xstate/lamp holds them in TypeScript."""

KEEP_NAMES = 'var e=Object.defineProperty;var n=(i,t)=>e(i,"name",{value:t,configurable:!0});'

LAMP_V1 = (
    KEEP_NAMES + 'import{createMachine as c,assign as a}from"npm:xstate";'
    'var m=c({id:"lamp",predictableActionArguments:!0,initial:"off",'
    "context:{public:{flips:0}},states:{"
    'off:{on:{flip:{target:"on",actions:"count"}}},'
    'on:{on:{flip:{target:"off",actions:"count"}}}}},'
    '{actions:{count:a({public:n(x=>({flips:x.public.flips+1}),"public")})}});'
    "export{m as default};"
)

LAMP_V2 = (
    KEEP_NAMES + 'import{assign as a,createMachine as c}from"npm:xstate";'
    'var m=c({id:"lamp",predictableActionArguments:!0,initial:"dark",'
    "context:{public:{switched:0,migrated:!1}},states:{"
    'dark:{on:{flip:{target:"lit",actions:"count"}}},'
    'lit:{initial:"bright",states:{bright:{on:{dim:"dimmed"}},dimmed:{}},'
    'on:{flip:{target:"dark",actions:"count"}}}}},'
    "{actions:{count:a({public:x=>({...x.public,switched:x.public.switched+1})})}});"
    "export{m as default};"
)

LAMP_V1_TO_V2 = (
    'var s=p=>p[0]==="on"?["lit","bright"]:["dark"],'
    "u=(o,w,x)=>({public:{switched:x.public.flips,migrated:!0}});"
    "export{s as upgradeState,u as upgradeContext};"
)

# Back from v2 to v1: State Backed takes a migration between any two versions.
LAMP_V2_TO_V1 = (
    'var s=p=>p[0]==="lit"?["on"]:["off"],'
    "u=(o,w,x)=>({public:{flips:x.public.switched}});"
    "export{s as upgradeState,u as upgradeContext};"
)

# A bundle with xstate inside it (smply's older builds) that says which version it is.
BROKEN = "const x = ;\nexport{x as default};\n"
