export function Brand({ small = false }: { small?: boolean }) {
  return (
    <div className={small ? 'brand small' : 'brand'}>
      <svg viewBox="0 0 24 24" width={small ? 22 : 36} height={small ? 22 : 36} aria-hidden="true">
        <rect x="2" y="3" width="20" height="14" rx="2.5" fill="none" stroke="currentColor" strokeWidth="2" />
        <path d="M8 21h8M12 17v4" stroke="currentColor" strokeWidth="2" strokeLinecap="round" />
        <path d="M7 10h2m2 0h2m2 0h2" stroke="currentColor" strokeWidth="2" strokeLinecap="round" />
      </svg>
      <span>KVM</span>
    </div>
  );
}
